//go:build !linux

package main

import (
	"net"
	"time"
)

// established is when c was established: when it was accepted, without
// Linux's TCP_INFO.
func established(_ net.Conn, now time.Time) time.Time { return now }

// pending reports whether c has bytes waiting: unknown without Linux's
// SIOCINQ, so no.
func pending(net.Conn) bool { return false }
