package main

import (
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// established is when the kernel established c, from TCP_INFO: for a
// connection that has received nothing, tcpi_last_data_recv counts from
// then (the kernel sets it when it makes the socket). So a crowd of
// silent clients that waited in the listen backlog is as old as it is,
// not as old as its accept. now when the kernel does not say.
func established(c net.Conn, now time.Time) time.Time {
	since := now
	control(c, func(fd int) {
		if info, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
			since = now.Add(-time.Duration(info.Last_data_recv) * time.Millisecond)
		}
	})
	return since
}

// pending reports whether c has bytes received and not yet read.
func pending(c net.Conn) bool {
	n := 0
	control(c, func(fd int) { n, _ = unix.IoctlGetInt(fd, unix.SIOCINQ) })
	return n > 0
}

// control runs f on c's file descriptor, if c has one.
func control(c net.Conn, f func(fd int)) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	raw.Control(func(fd uintptr) { f(int(fd)) })
}
