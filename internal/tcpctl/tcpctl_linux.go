package tcpctl

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

func (o Options) set(fd uintptr, network string) error {
	if o.SendBuffer > 0 {
		if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF, o.SendBuffer); err != nil {
			return os.NewSyscallError("setsockopt SO_SNDBUF", err)
		}
	}
	if o.HopLimit > 0 {
		var err error
		if network == "tcp4" || network == "udp4" {
			err = os.NewSyscallError("setsockopt IP_TTL", unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_TTL, o.HopLimit))
		} else {
			err = os.NewSyscallError("setsockopt IPV6_UNICAST_HOPS", unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, o.HopLimit))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func read(fd uintptr) (Info, error) {
	ti, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	if err != nil {
		return Info{}, os.NewSyscallError("getsockopt TCP_INFO", err)
	}
	sb, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF)
	if err != nil {
		return Info{}, os.NewSyscallError("getsockopt SO_SNDBUF", err)
	}
	// Byte 7 of struct tcp_info holds the bit fields
	// tcpi_delivery_rate_app_limited:1 and tcpi_fastopen_client_fail:2,
	// which unix.TCPInfo leaves as padding.
	flags := (*[8]byte)(unsafe.Pointer(ti))[7]
	return Info{
		RTT: ti.Rtt, RTTVar: ti.Rttvar, MinRTT: ti.Min_rtt,
		DeliveryRate: ti.Delivery_rate, AppLimited: flags&1 != 0,
		BytesAcked: ti.Bytes_acked, BytesReceived: ti.Bytes_received,
		SendBuffer: uint32(sb),
	}, nil
}
