//go:build !js

package main

import (
	"fmt"
	"math"
	"strings"
	"text/tabwriter"
)

// runResumeTable measures what session resume costs the hot path: the bulk
// echo against one relay process with wispclient's resume on (the relay
// offers it; both ends keep a replay buffer and ACK) and off (the same
// relay, a session that does not ask), alternating rounds so that the
// machine's load falls on both alike. Issue 13's target: resume on within
// 10% of off, in throughput and in CPU per GiB.
func runResumeTable(c *config, relay *server, echo *echoServer) string {
	modes := []string{"on", "off"}
	var mibps, relayCPU, clientCPU [2][]float64
	var errs [2]error
	for round := range c.resumeRounds {
		for i, mode := range modes {
			if errs[i] != nil {
				continue
			}
			progress("relay: bulk echo with resume %s, round %d of %d, %v", mode, round+1, c.resumeRounds, c.resumeDuration)
			tg := &target{name: "relay", srv: relay, echo: echo, resume: mode}
			b, err := bulk(tg, c.streams, c.payload, c.resumeDuration)
			if err != nil {
				progress("resume %s: %v", mode, err)
				errs[i] = err
				continue
			}
			mibps[i] = append(mibps[i], b.mibps)
			relayCPU[i] = append(relayCPU[i], b.cpuPerGiB)
			clientCPU[i] = append(clientCPU[i], b.clientCPUPerGiB)
		}
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nsession resume on vs off: our relay, bulk echo (%d streams, %d KiB payloads), %d alternating rounds of %v, medians\n\n",
		c.streams, c.payload>>10, c.resumeRounds, c.resumeDuration)
	tw := tabwriter.NewWriter(&sb, 0, 0, 2, ' ', tabwriter.Debug)
	fmt.Fprintf(tw, "metric\tresume on\tresume off\ton / off\ttarget\tmet?\n")
	row := func(name string, v [2][]float64, format string, higherIsBetter bool) {
		var cells [2]string
		var med [2]float64
		for i := range modes {
			med[i] = median(v[i])
			switch {
			case errs[i] != nil:
				cells[i] = "error: " + firstLine(errs[i].Error())
			case math.IsNaN(med[i]):
				cells[i] = "n/a"
			default:
				cells[i] = fmt.Sprintf(format, med[i])
			}
		}
		ratio := med[0] / med[1]
		target, met := "<= 1.10", "n/a"
		if higherIsBetter {
			target = ">= 0.90"
		}
		rs := "n/a"
		if !math.IsNaN(ratio) && !math.IsInf(ratio, 0) {
			rs = fmt.Sprintf("%.2f", ratio)
			good := ratio <= 1.10
			if higherIsBetter {
				good = ratio >= 0.90
			}
			met = "yes"
			if !good {
				met = fmt.Sprintf("NO: %.0f%% off", math.Abs(ratio-1)*100)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", name, cells[0], cells[1], rs, target, met)
	}
	row("bulk echo MiB/s", mibps, "%.0f", true)
	row("  relay CPU s per GiB echoed", relayCPU, "%.2f", false)
	row("  client+echo CPU s per GiB echoed", clientCPU, "%.2f", false)
	tw.Flush()
	return sb.String()
}
