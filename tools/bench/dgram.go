//go:build !js

package main

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// udpEcho is a UDP echo service on 127.0.0.1: each datagram goes back whole
// to its sender. It is the destination of the DatagramSocket row.
type udpEcho struct {
	c    *net.UDPConn
	done chan struct{}
}

func startUDPEcho() (*udpEcho, error) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	c.SetReadBuffer(1 << 20) // the echo is not under test: let it queue, not drop
	e := &udpEcho{c: c, done: make(chan struct{})}
	go func() {
		defer close(e.done)
		buf := make([]byte, 65536)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil { // an ICMP error from an earlier send and the like
				continue
			}
			c.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	return e, nil
}

func (e *udpEcho) port() uint16 { return uint16(e.c.LocalAddr().(*net.UDPAddr).Port) }

func (e *udpEcho) close() {
	e.c.Close()
	<-e.done
}

// dgramResult is what tools/bench/wasmdgram measured.
type dgramResult struct {
	perSecond, loss float64
	viaTx, viaRx    float64 // fractions of sent and received datagrams the data channel carried
}

// errNoChannel: the browser's data channel never opened, so nothing was
// measured (the datagrams would have gone on the WebSocket).
type errNoChannel struct{ why string }

func (e *errNoChannel) Error() string { return "data channel did not open: " + e.why }

// minViaChannel is the share of datagrams, each way, that must have
// travelled on the data channel for the row to count as a data channel
// number.
const minViaChannel = 0.99

// browserDatagram runs tools/bench/wasmdgram in the bench page: one
// DatagramSocket with QualityOfService LowLatency through the relay (which
// must offer WebRTC) to the UDP echo server, window datagrams of payload
// bytes outstanding, for d.
func (b *browserBench) browserDatagram(relayURL string, udpEchoPort uint16, payload, window int, d time.Duration) (dgramResult, error) {
	vals, run, err := b.runGo("dgram", nil, map[string]string{
		"SOCKSHIM_RELAY_URL":      relayURL,
		"SOCKSHIM_UDP_ECHO_ADDR":  fmt.Sprintf("127.0.0.1:%d", udpEchoPort),
		"SOCKSHIM_BENCH_DURATION": d.String(),
		"SOCKSHIM_BENCH_PAYLOAD":  strconv.Itoa(payload),
		"SOCKSHIM_BENCH_WINDOW":   strconv.Itoa(window),
	}, false, d)
	out, stderr := run.Stdout, run.Stderr
	for _, line := range strings.Split(string(stderr), "\n") {
		if strings.HasPrefix(line, "bench wasmdgram: ") {
			progress("%s", strings.TrimPrefix(line, "bench wasmdgram: "))
		}
	}
	if why, ok := vals["dgram_channel"]; ok {
		return dgramResult{}, &errNoChannel{strings.TrimPrefix(why, "not-open: ")}
	}
	var r dgramResult
	var corrupt int
	var perr error
	parse := func(k string, dst *float64) {
		v, ok := vals[k]
		if !ok {
			perr = errors.Join(perr, fmt.Errorf("no %s line", k))
			return
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			perr = errors.Join(perr, fmt.Errorf("%s: %v", k, err))
		}
		*dst = f
	}
	parse("dgram_per_s", &r.perSecond)
	parse("dgram_loss", &r.loss)
	parse("dgram_via_channel_tx", &r.viaTx)
	parse("dgram_via_channel_rx", &r.viaRx)
	if v, ok := vals["dgram_corrupt"]; ok {
		corrupt, _ = strconv.Atoi(v)
	}
	if err == nil {
		err = perr
	}
	if err != nil {
		return dgramResult{}, fmt.Errorf("browser run: %v\n%s%s", err, out, lastLines(stderr, 10))
	}
	if corrupt > 0 {
		return dgramResult{}, fmt.Errorf("%d echoes came back with wrong content", corrupt)
	}
	if r.viaTx < minViaChannel || r.viaRx < minViaChannel {
		return dgramResult{}, fmt.Errorf("not over the data channel: it carried %.1f%% of the datagrams sent and %.1f%% of those received; the rest went on the WebSocket",
			r.viaTx*100, r.viaRx*100)
	}
	return r, nil
}

// dgramCell is the table's text for the datagram row.
func dgramCell(r dgramResult, err error) cell {
	var nc *errNoChannel
	switch {
	case errors.As(err, &nc):
		progress("Chromium DatagramSocket: %v", err)
		return cell{v: nan, text: "NOT MEASURED: data channel did not open (" + firstLine(nc.why) + ")"}
	case err != nil:
		progress("Chromium DatagramSocket: %v", err)
		return cell{v: nan, text: "error: " + firstLine(err.Error())}
	}
	return cell{v: r.perSecond, text: fmt.Sprintf("%.0f (loss %.2f%%, %.0f%% via data channel)", r.perSecond, r.loss*100, min(r.viaTx, r.viaRx)*100)}
}

// browserDgramRow measures the DatagramSocket row against a fresh UDP echo
// server.
func (b *browserBench) dgramRow(c *config, relay *server) cell {
	echo, err := startUDPEcho()
	if err != nil {
		return dgramCell(dgramResult{}, err)
	}
	defer echo.close()
	// CPU per datagram echoed, for diagnosis (setup included: the program
	// does not mark its measurement).
	cpu0, relay0 := b.rendererCPU(), nanCPU(relay.pid)
	r, err := b.browserDatagram(relay.url, echo.port(), c.dgramPayload, c.dgramWindow, c.browserDuration)
	cpu, relayCPU := b.rendererCPU().sub(cpu0), nanCPU(relay.pid)-relay0
	if err == nil && r.perSecond > 0 {
		n := r.perSecond * c.browserDuration.Seconds()
		us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) / n }
		progress("DatagramSocket CPU per datagram echoed: page main thread %.0f µs, renderer %.0f µs, relay %.0f µs",
			us(cpu.main), us(cpu.all), relayCPU*1e6/n)
	}
	return dgramCell(r, err)
}
