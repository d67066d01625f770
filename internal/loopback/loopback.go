// Package loopback is the listeners every test package needs, on
// 127.0.0.1 and gone when the test ends: a peer that accepts and closes at
// once (a tcp:// target that is up), an address where nothing listens (a
// refused connect), a peer that accepts and never answers (an attempt on
// it lasts its whole time limit), and Serve, which runs a handler per
// connection of any listener (a network namespace's too).
//
// It is imported by tests only, and knows nothing of depprobe.
package loopback

import (
	"net"
	"sync"
	"testing"
)

// Listen opens a listener on a free loopback port, closed when the test
// ends.
func Listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// Serve accepts connections on ln and hands each to handle in a goroutine
// of its own, until ln is closed. When the test ends it closes ln and every
// connection it accepted, and waits for the handlers: a handler may return
// and leave its connection open (held) until then.
func Serve(t testing.TB, ln net.Listener, handle func(net.Conn)) {
	t.Helper()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { handle(c) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
}

// Up is the address of a peer that accepts every connection and closes it
// at once: ready for tcp://, until the test ends.
func Up(t testing.TB) string {
	t.Helper()
	ln := Listen(t)
	Serve(t, ln, func(c net.Conn) { c.Close() })
	return ln.Addr().String()
}

// Refused is a loopback address where nothing listens: listened on, then
// closed, so a connect gets RST.
func Refused(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// Silent is the address of a peer that accepts connections and never
// sends a byte nor closes them, until the test ends.
func Silent(t testing.TB) string {
	t.Helper()
	ln := Listen(t)
	Serve(t, ln, func(net.Conn) {})
	return ln.Addr().String()
}
