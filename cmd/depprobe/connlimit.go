package main

import (
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// connLimit is serve's listener: at most max connections open at once, so
// that a flood of clients costs a bounded number of goroutines and buffers
// (each connection net/http serves is a goroutine and two 4 KiB buffers;
// 5,000 of them took serve past 100 MB). netutil.LimitListener does the
// counting alone; connLimit also makes room, so that neither kept-alive,
// abandoned nor silent clients lock out a kubelet probe: when every slot is
// taken, it closes for the newcomer
//
//   - the connection that has been idle (kept alive between requests) the
//     longest, else
//   - the oldest connection that has not sent a byte for at least
//     silentGrace since it was established, and has none waiting to be
//     read (a client that connects and never speaks held its slot until
//     ReadHeaderTimeout: 70 of them made a kubelet probe take 2 s).
//
// When neither exists, the newcomer waits for a slot: until a connection
// ends, goes idle, or becomes silent for long enough. A client that has
// sent part of a request (a slowloris) is not silent: net/http's timeouts
// (ReadHeaderTimeout, WriteTimeout) bound how long it keeps its slot.
//
// Its ConnState method must be the server's ConnState hook.
type connLimit struct {
	net.Listener
	slots chan struct{} // one token per open connection
	done  chan struct{} // closed by Close
	once  sync.Once
	wake  chan struct{} // a connection became idle

	mu     sync.Mutex
	idle   map[*limitedConn]time.Time // idle connections, since when
	silent map[*limitedConn]struct{}  // connections that have sent nothing yet

	evicted atomic.Int64 // connections closed to make room
}

// silentGrace is how long a connection may stay silent after it was
// established before it may be closed for a newcomer: far longer than a
// client takes between its connect and its request (microseconds, unless
// its host is starved: bench/hostile's 5,000 clients in one process took
// more than 100 ms, and 100 ms closed up to 3,500 of them), short enough
// that a crowd of silent clients costs a kubelet probe (timeoutSeconds: 1)
// at most this once.
const silentGrace = 300 * time.Millisecond

func newConnLimit(ln net.Listener, max int) *connLimit {
	return &connLimit{
		Listener: ln,
		slots:    make(chan struct{}, max),
		done:     make(chan struct{}),
		wake:     make(chan struct{}, 1),
		idle:     map[*limitedConn]time.Time{},
		silent:   map[*limitedConn]struct{}{},
	}
}

// Accept takes the next connection, then a slot for it: a free one, one
// made by closing the longest-idle or the oldest silent connection, or the
// first one freed.
func (l *connLimit) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case l.slots <- struct{}{}:
			return l.seat(c), nil
		case <-l.done:
			c.Close()
			return nil, net.ErrClosed
		default:
		}
		next, ok := l.evict()
		if ok {
			continue
		}
		var silentDue <-chan time.Time
		if next > 0 {
			if timer == nil {
				timer = time.NewTimer(next)
			} else {
				timer.Reset(next)
			}
			silentDue = timer.C
		}
		select {
		case l.slots <- struct{}{}:
			return l.seat(c), nil
		case <-l.wake: // a connection went idle: evict it
		case <-silentDue: // a connection has been silent for long enough
		case <-l.done:
			c.Close()
			return nil, net.ErrClosed
		}
	}
}

// seat wraps a connection that has a slot, silent until it sends a byte.
func (l *connLimit) seat(c net.Conn) *limitedConn {
	lc := &limitedConn{Conn: c, l: l, born: established(c, time.Now())}
	l.mu.Lock()
	l.silent[lc] = struct{}{}
	l.mu.Unlock()
	return lc
}

// Close stops accepting; open connections stay (http.Server.Shutdown
// closes them).
func (l *connLimit) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// evict closes the longest-idle connection or, without one, the oldest
// that has been silent for silentGrace. When it closes none, next is how
// long until the oldest silent one will have been silent that long (0:
// there is none).
func (l *connLimit) evict() (next time.Duration, ok bool) {
	now := time.Now()
	l.mu.Lock()
	var (
		victim *limitedConn
		since  time.Time
	)
	for c, t := range l.idle {
		if victim == nil || t.Before(since) {
			victim, since = c, t
		}
	}
	if victim != nil {
		delete(l.idle, victim)
	}
	for victim == nil {
		var oldest *limitedConn
		for c := range l.silent {
			if oldest == nil || c.born.Before(oldest.born) {
				oldest = c
			}
		}
		if oldest == nil {
			break
		}
		if wait := oldest.born.Add(silentGrace).Sub(now); wait > 0 {
			next = wait
			break
		}
		delete(l.silent, oldest)
		if !pending(oldest.Conn) { // else its request waits to be read: not silent
			victim = oldest
		}
	}
	l.mu.Unlock()
	if victim == nil {
		return next, false
	}
	l.evicted.Add(1)
	victim.Close() // frees its slot
	return 0, true
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

// limitedConn gives its slot back when closed, and tells its connLimit
// when it first sends something.
type limitedConn struct {
	net.Conn
	l     *connLimit
	born  time.Time // when the connection was established, as near as known
	spoke atomic.Bool
	once  sync.Once
}

func (c *limitedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.spoke.Load() {
		c.spoke.Store(true)
		c.l.mu.Lock()
		delete(c.l.silent, c)
		c.l.mu.Unlock()
	}
	return n, err
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.idle, c)
		delete(c.l.silent, c)
		c.l.mu.Unlock()
		<-c.l.slots
	})
	return err
}
