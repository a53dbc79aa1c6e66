package policy_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/sockshim/sockshim/internal/policy"
)

func ExampleEngine_Check() {
	var counts policy.Counters
	e := &policy.Engine{OnDecision: counts.Record}
	app := &policy.App{ID: "demo", Capabilities: policy.InternetClient}

	// IP literals need no DNS; these never leave the process.
	for _, host := range []string{"8.8.8.8", "::ffff:127.0.0.1", "0x7f.1", "169.254.169.254", "64:ff9b::a00:1"} {
		_, err := e.Check(context.Background(), app, policy.OpConnect, host, 443)
		fmt.Printf("%-18s denied=%v invalid=%v\n", host, errors.Is(err, policy.ErrDenied), errors.Is(err, policy.ErrInvalid))
	}
	fmt.Println("allowed:", counts.Load(policy.ReasonAllowed), "metadata:", counts.Load(policy.ReasonMetadata))
	// Output:
	// 8.8.8.8            denied=false invalid=false
	// ::ffff:127.0.0.1   denied=true invalid=false
	// 0x7f.1             denied=false invalid=true
	// 169.254.169.254    denied=true invalid=false
	// 64:ff9b::a00:1     denied=true invalid=false
	// allowed: 1 metadata: 1
}

func ExampleClassify() {
	for _, s := range []string{"2002:c0a8:101::1", "2001:0:4136:e378:8000:63bf:80ff:fffe", "100.64.0.1", "fd00:ec2::254"} {
		fmt.Println(s, policy.Classify(netip.MustParseAddr(s)))
	}
	// Output:
	// 2002:c0a8:101::1 private
	// 2001:0:4136:e378:8000:63bf:80ff:fffe loopback
	// 100.64.0.1 special
	// fd00:ec2::254 special
}

func ExampleParsePortRanges() {
	allow, _ := policy.ParsePortRanges("80, 443, 8000-8100")
	rules := policy.PortRules{Allow: allow}
	fmt.Println(rules.Allowed(443), rules.Allowed(8080), rules.Allowed(22), rules.Allowed(25))
	// Output: true true false false
}
