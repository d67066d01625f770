package main

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// connLimit is serve's listener: at most max connections open at once, so
// that a flood of clients costs a bounded number of goroutines and buffers
// (each connection net/http serves is a goroutine and two 4 KiB buffers;
// 5,000 of them took serve past 100 MB). netutil.LimitListener does the
// counting alone; connLimit also makes room: when every slot is taken, the
// connection that has been idle (kept alive between requests) the longest
// is closed for the newcomer, so that kept-alive or abandoned clients never
// lock out a kubelet probe. When none is idle, the newcomer waits for a
// slot; net/http's timeouts (ReadHeaderTimeout, WriteTimeout) bound how long
// a busy connection keeps one.
//
// Its ConnState method must be the server's ConnState hook.
type connLimit struct {
	net.Listener
	slots chan struct{} // one token per open connection
	done  chan struct{} // closed by Close
	once  sync.Once
	wake  chan struct{} // a connection became idle

	mu   sync.Mutex
	idle map[*limitedConn]time.Time // idle connections, since when
}

func newConnLimit(ln net.Listener, max int) *connLimit {
	return &connLimit{
		Listener: ln,
		slots:    make(chan struct{}, max),
		done:     make(chan struct{}),
		wake:     make(chan struct{}, 1),
		idle:     map[*limitedConn]time.Time{},
	}
}

// Accept takes the next connection, then a slot for it: a free one, one
// made by closing the longest-idle connection, or the first one freed.
func (l *connLimit) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	for {
		select {
		case l.slots <- struct{}{}:
			return &limitedConn{Conn: c, l: l}, nil
		case <-l.done:
			c.Close()
			return nil, net.ErrClosed
		default:
		}
		if l.evict() {
			continue
		}
		select {
		case l.slots <- struct{}{}:
			return &limitedConn{Conn: c, l: l}, nil
		case <-l.wake: // a connection went idle: evict it
		case <-l.done:
			c.Close()
			return nil, net.ErrClosed
		}
	}
}

// Close stops accepting; open connections stay (http.Server.Shutdown
// closes them).
func (l *connLimit) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// evict closes the longest-idle connection, if there is one.
func (l *connLimit) evict() bool {
	l.mu.Lock()
	var (
		oldest *limitedConn
		since  time.Time
	)
	for c, t := range l.idle {
		if oldest == nil || t.Before(since) {
			oldest, since = c, t
		}
	}
	delete(l.idle, oldest)
	l.mu.Unlock()
	if oldest == nil {
		return false
	}
	oldest.Close() // frees its slot
	return true
}

// ConnState keeps track of the idle connections (http.Server.ConnState).
func (l *connLimit) ConnState(c net.Conn, s http.ConnState) {
	lc, ok := c.(*limitedConn)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if s == http.StateIdle {
		l.idle[lc] = time.Now()
		select {
		case l.wake <- struct{}{}:
		default:
		}
		return
	}
	delete(l.idle, lc)
}

// limitedConn gives its slot back when closed.
type limitedConn struct {
	net.Conn
	l    *connLimit
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.idle, c)
		c.l.mu.Unlock()
		<-c.l.slots
	})
	return err
}
