//go:build !linux

package tcpctl

import "fmt"

func (o Options) set(uintptr, string) error {
	return fmt.Errorf("tcpctl: send buffer and hop limit on this platform: %w", ErrNotSupported)
}

func read(uintptr) (Info, error) {
	return Info{}, fmt.Errorf("tcpctl: TCP_INFO on this platform: %w", ErrNotSupported)
}
