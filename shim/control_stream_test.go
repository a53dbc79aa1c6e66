package shim_test

import (
	"testing"

	"github.com/sockshim/sockshim/shim"
)

// TestStreamSocketControlConnectOptions: the defaults are the system's and
// parallel attempts; each setter is read back.
func TestStreamSocketControlConnectOptions(t *testing.T) {
	t.Parallel()
	c := new(shim.StreamSocket).Control()
	if c.OutboundBufferSizeInBytes() != 0 || c.OutboundUnicastHopLimit() != 0 || c.SerializeConnectionAttempts() {
		t.Fatalf("defaults: buffer %d, hop limit %d, serialize %v; want 0, 0, false",
			c.OutboundBufferSizeInBytes(), c.OutboundUnicastHopLimit(), c.SerializeConnectionAttempts())
	}
	c.SetOutboundBufferSizeInBytes(65536)
	c.SetOutboundUnicastHopLimit(9)
	c.SetSerializeConnectionAttempts(true)
	if c.OutboundBufferSizeInBytes() != 65536 || c.OutboundUnicastHopLimit() != 9 || !c.SerializeConnectionAttempts() {
		t.Fatalf("after setting: buffer %d, hop limit %d, serialize %v",
			c.OutboundBufferSizeInBytes(), c.OutboundUnicastHopLimit(), c.SerializeConnectionAttempts())
	}
}
