package smoke

import (
	"fmt"
	"os"
	"testing"
)

// TestOutput writes to stdout and stderr (with bytes that are not valid UTF-8
// and a line without a newline in between) and echoes SOCKSHIM_ variables.
func TestOutput(t *testing.T) {
	fmt.Fprintf(os.Stdout, "smoke stdout: %s\n", Greeting("browser"))
	fmt.Fprint(os.Stderr, "smoke stderr: partial ")
	fmt.Fprint(os.Stderr, "line\n")
	os.Stdout.Write([]byte("smoke bytes: \xff\x00\xfe end\n"))
	fmt.Printf("smoke env: SOCKSHIM_SMOKE_VALUE=%q\n", os.Getenv("SOCKSHIM_SMOKE_VALUE"))
	fmt.Printf("smoke env: OTHER_SMOKE_VALUE=%q\n", os.Getenv("OTHER_SMOKE_VALUE"))
	fmt.Printf("smoke env: SOCKSHIM_PAGE_ORIGIN=%q\n", os.Getenv("SOCKSHIM_PAGE_ORIGIN"))
}

// TestFail fails, but only when SOCKSHIM_SMOKE_FAIL=1, so that a plain
// `go test ./...` passes.
func TestFail(t *testing.T) {
	if os.Getenv("SOCKSHIM_SMOKE_FAIL") != "1" {
		t.Skip("set SOCKSHIM_SMOKE_FAIL=1 to run")
	}
	fmt.Fprintln(os.Stderr, "smoke: about to fail")
	t.Fatal("smoke: failing on purpose")
}
