// Command prog is a plain (non-test) program for the self-test of
// wasmbrowser: it echoes its arguments, then behaves as the first one says:
// "exit N" exits with status N, "hang" never exits, "panic" panics.
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

func main() {
	fmt.Printf("prog args: %q\n", os.Args[1:])
	fmt.Fprintln(os.Stderr, "prog stderr")
	if len(os.Args) < 2 {
		return
	}
	switch os.Args[1] {
	case "exit":
		n, _ := strconv.Atoi(os.Args[2])
		os.Exit(n)
	case "hang":
		for {
			time.Sleep(time.Hour)
		}
	case "panic":
		panic("prog: panicking on purpose")
	}
}
