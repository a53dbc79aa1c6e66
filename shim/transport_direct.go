package shim

// DirectOptions configure DirectTransport: the capabilities the local policy
// grants, as an app manifest would.
type DirectOptions struct {
	// Capabilities the program declares; nil means all three
	// (internetClient, internetClientServer, privateNetworkClientServer).
	Capabilities []string
	// DenyLoopback removes the loopback exemption a native program has by
	// default.
	DenyLoopback bool
}
