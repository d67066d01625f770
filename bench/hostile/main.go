// Command hostile measures what hostile or broken peers and heavy clients
// cost depprobe: the peak resident memory (VmHWM, the kernel's high-water
// mark), CPU and wall time of `check` against HTTP servers that never end
// their status line, send headers without end, a 100 MB body or an endless
// chunked one, or drip one byte a second; of `wait` against the dripping
// server; and of `serve` (100 ready targets plus one whose server never ends
// its status line), and of `serve` with 100 ready targets alone, under
// 5,000 connection attempts held open, under 300 connections that never
// send a byte, and under 50 concurrent /metrics scrapers.
//
//	go build -o /tmp/depprobe ./cmd/depprobe && (cd bench && go run ./hostile -depprobe /tmp/depprobe)
//
// Every peer listens on 127.0.0.1 in this process; nothing else is
// touched. It reports (a markdown table on stdout), never asserts: the
// budgets (serve ≤ 20 MB) are for a person to compare. It needs about
// 5,200 file descriptors (ulimit -n) and takes about two minutes.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	bin := flag.String("depprobe", "", "the depprobe binary to measure")
	conns := flag.Int("conns", 5000, "connection attempts held open against serve")
	silent := flag.Int("silent", 300, "connections against serve that never send a byte")
	scrapers := flag.Int("scrapers", 50, "concurrent /metrics scrapers")
	scrapeFor := flag.Duration("scrape-for", 10*time.Second, "how long the scrapers run")
	only := flag.String("only", "check,wait,serve", "which runs, comma-separated")
	flag.Parse()
	if *bin == "" {
		fmt.Fprintln(os.Stderr, "hostile: -depprobe is required")
		os.Exit(2)
	}
	h := &harness{bin: *bin}
	defer h.close()
	runs := strings.Split(*only, ",")
	if slices.Contains(runs, "check") {
		h.checks()
	}
	if slices.Contains(runs, "wait") {
		h.waitDrip()
	}
	if slices.Contains(runs, "serve") {
		h.serve(*conns, *silent, *scrapers, *scrapeFor)
	}
	fmt.Println("| run | load | result | wall | CPU | peak RSS (VmHWM) | notes |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, r := range h.rows {
		fmt.Println(r)
	}
}

type harness struct {
	bin       string
	rows      []string
	listeners []net.Listener
}

func (h *harness) close() {
	for _, ln := range h.listeners {
		ln.Close()
	}
}

func (h *harness) row(run, load, result string, wall, cpu time.Duration, hwm int64, notes string) {
	h.rows = append(h.rows, fmt.Sprintf("| %s | %s | %s | %s | %s | %s | %s |", run, load, result,
		wall.Round(10*time.Millisecond), cpu.Round(10*time.Millisecond), mb(hwm), notes))
}

func mb(kb int64) string { return fmt.Sprintf("%.1f MB", float64(kb)/1024) }

// peer listens on loopback and runs answer on every connection after
// reading the request's first bytes.
func (h *harness) peer(answer func(c net.Conn)) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	h.listeners = append(h.listeners, ln)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.Read(make([]byte, 4096)) // the request
				answer(c)
			}()
		}
	}()
	return ln.Addr().String()
}

// endless writes head, then fill over and over until the peer hangs up.
func endless(head, fill string) func(net.Conn) {
	return func(c net.Conn) {
		if _, err := io.WriteString(c, head); err != nil {
			return
		}
		b := []byte(strings.Repeat(fill, 32<<10/len(fill)+1))
		for {
			if _, err := c.Write(b); err != nil {
				return
			}
		}
	}
}

var (
	endlessStatus  = endless("HTTP/1.1 200 ", "A")
	endlessHeaders = endless("HTTP/1.1 200 OK\r\n", "X-Fill: "+strings.Repeat("a", 1000)+"\r\n")
	endlessChunked = endless("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "400\r\n"+strings.Repeat("b", 0x400)+"\r\n")
)

func bigBody(c net.Conn) {
	const size = 100 << 20
	fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", size)
	b := make([]byte, 64<<10)
	for sent := 0; sent < size; sent += len(b) {
		if _, err := c.Write(b); err != nil {
			return
		}
	}
}

// drip sends a valid answer one byte a second.
func drip(c net.Conn) {
	for _, b := range []byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n") {
		if _, err := c.Write([]byte{b}); err != nil {
			return
		}
		time.Sleep(time.Second)
	}
}

// runOnce runs depprobe to its end and returns its first output line, exit
// code, wall time, CPU and peak RSS in KB (from wait4's rusage).
func (h *harness) runOnce(env []string, args ...string) (first string, code int, wall, cpu time.Duration, hwm int64) {
	cmd := exec.Command(h.bin, args...)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin", "DEPPROBE_TERMINATION_LOG=", "DEPPROBE_LOG_FORMAT=text"}, env...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	cmd.Run()
	wall = time.Since(start)
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	first = lines[0]
	for _, want := range []string{`msg="gave up"`, "not ready: ", "ready in"} {
		if i := slices.IndexFunc(lines, func(l string) bool { return strings.Contains(l, want) }); i >= 0 {
			first = lines[i]
			break
		}
	}
	return strings.TrimSpace(first), cmd.ProcessState.ExitCode(), wall, cpu, ru.Maxrss
}

func (h *harness) checks() {
	for _, c := range []struct {
		load    string
		answer  func(net.Conn)
		attempt string
	}{
		{"status line without end", endlessStatus, "2s"},
		{"status line without end", endlessStatus, "10s"},
		{"header lines without end", endlessHeaders, "2s"},
		{"100 MB body", bigBody, "10s"},
		{"chunked body without end", endlessChunked, "2s"},
		{"one byte a second", drip, "2s"},
	} {
		addr := h.peer(c.answer)
		first, code, wall, cpu, hwm := h.runOnce([]string{"DEPPROBE_ATTEMPT_TIMEOUT=" + c.attempt}, "check", "api=http://"+addr+"/")
		h.row("check, ATTEMPT_TIMEOUT="+c.attempt, c.load, fmt.Sprintf("exit %d: %s", code, cell(first)), wall, cpu, hwm, "")
	}
}

// waitDrip: a reply still arriving at the attempt's deadline must count as
// a timeout, so wait gives up after MAX_TIMEOUTS attempts, not at
// DEPPROBE_TIMEOUT.
func (h *harness) waitDrip() {
	addr := h.peer(drip)
	first, code, wall, cpu, hwm := h.runOnce([]string{"DEPPROBE_TIMEOUT=30s", "DEPPROBE_LOG_FORMAT=text"}, "wait", "api=http://"+addr+"/")
	h.row("wait, TIMEOUT=30s, defaults", "one byte a second", fmt.Sprintf("exit %d: %s", code, cell(first)), wall, cpu, hwm, "")
}

func cell(s string) string {
	s = strings.ReplaceAll(s, "|", "\\|")
	if i := strings.Index(s, " hint="); i > 0 {
		s = s[:i]
	}
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

// server is a running `depprobe serve`.
type server struct {
	cmd  *exec.Cmd
	base string
}

// startServe runs serve with 100 ready tcp targets and, if endlessTarget,
// one http target whose server never ends its status line.
func (h *harness) startServe(endlessTarget bool) *server {
	var targets []string
	for i := range 100 {
		targets = append(targets, fmt.Sprintf("t%03d=tcp://%s", i, h.peer(func(net.Conn) {})))
	}
	if endlessTarget {
		targets = append(targets, "endless=http://"+h.peer(endlessStatus)+"/")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(h.bin, "serve")
	cmd.Env = []string{"DEPPROBE_LISTEN=" + addr, "DEPPROBE_TARGETS=" + strings.Join(targets, ","), "DEPPROBE_LOG_LEVEL=error"}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		panic(err)
	}
	s := &server{cmd: cmd, base: "http://" + addr}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(s.base + "/livez"); err == nil {
			resp.Body.Close()
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(3 * time.Second) // every target probed, the endless one several times
	return s
}

// status reads a field of /proc/PID/status in KB.
func (s *server) status(field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n
		}
	}
	return -1
}

func (s *server) cpu() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b)[strings.LastIndexByte(string(b), ')')+2:])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ = 100
}

func (s *server) stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
}

// readyzLatency is how long one fresh-connection GET /readyz takes, as a
// kubelet probe would send it (timeout 10 s).
func (s *server) readyzLatency() string {
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	start := time.Now()
	resp, err := c.Get(s.base + "/readyz")
	if err != nil {
		return "error after " + time.Since(start).Round(time.Millisecond).String()
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return fmt.Sprintf("%d in %s", resp.StatusCode, time.Since(start).Round(time.Millisecond))
}

func (h *harness) serve(conns, silent, scrapers int, scrapeFor time.Duration) {
	// 100 ready targets, no load; then with one whose status line never ends.
	for _, endless := range []bool{false, true} {
		s := h.startServe(endless)
		start, cpu0 := time.Now(), s.cpu()
		time.Sleep(10 * time.Second)
		run := "serve, 100 tcp"
		if endless {
			run += " + 1 http whose status line never ends"
		}
		h.row(run, "none, 13 s", "/readyz "+s.readyzLatency(), time.Since(start), s.cpu()-cpu0, s.status("VmHWM"),
			fmt.Sprintf("VmRSS %s", mb(s.status("VmRSS"))))
		s.stop()
	}

	// 5,000 connections, each sends one GET /readyz and stays open (keep-alive).
	s := h.startServe(false)
	start, cpu0 := time.Now(), s.cpu()
	var (
		wg            sync.WaitGroup
		mu            sync.Mutex
		open          []net.Conn
		answered, bad atomic.Int64
	)
	addr := strings.TrimPrefix(s.base, "http://")
	for range conns {
		wg.Go(func() {
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				bad.Add(1)
				return
			}
			mu.Lock()
			open = append(open, c)
			mu.Unlock()
			c.SetDeadline(time.Now().Add(15 * time.Second))
			io.WriteString(c, "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
			if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
				io.Copy(io.Discard, resp.Body)
				answered.Add(1)
			}
		})
	}
	during := s.readyzLatency()
	wg.Wait()
	hwm, threads := s.status("VmHWM"), s.status("Threads")
	for _, c := range open {
		c.Close()
	}
	wall := time.Since(start)
	time.Sleep(10 * time.Second)
	h.row("serve, 100 tcp", fmt.Sprintf("%d connections at once, each GET /readyz then held open", conns),
		fmt.Sprintf("%d answered, %d not connected; a kubelet /readyz during it: %s", answered.Load(), bad.Load(), during), wall, s.cpu()-cpu0, hwm,
		fmt.Sprintf("threads %d; VmRSS 10 s after they closed %s", threads, mb(s.status("VmRSS"))))
	s.stop()

	// Connections that never send a byte, then a kubelet /readyz at once
	// and again once they are 200 ms old.
	s = h.startServe(false)
	start, cpu0 = time.Now(), s.cpu()
	open = nil
	for range silent {
		if c, err := net.DialTimeout("tcp", strings.TrimPrefix(s.base, "http://"), 5*time.Second); err == nil {
			open = append(open, c)
		}
	}
	atOnce := s.readyzLatency()
	time.Sleep(200 * time.Millisecond)
	later := s.readyzLatency()
	closed := 0
	for _, c := range open {
		c.SetReadDeadline(time.Now().Add(time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err == io.EOF {
			closed++
		}
		c.Close()
	}
	h.row("serve, 100 tcp", fmt.Sprintf("%d connections at once that never send a byte", silent),
		fmt.Sprintf("%d connected, %d of them closed by serve; a kubelet /readyz at once: %s, 200 ms later: %s", len(open), closed, atOnce, later),
		time.Since(start), s.cpu()-cpu0, s.status("VmHWM"), fmt.Sprintf("VmRSS %s", mb(s.status("VmRSS"))))
	s.stop()

	// 50 concurrent scrapers of /metrics, each on its own kept-alive connection.
	s = h.startServe(false)
	start, cpu0 = time.Now(), s.cpu()
	ctx, cancel := context.WithTimeout(context.Background(), scrapeFor)
	var scrapes, failed, bytes atomic.Int64
	for range scrapers {
		wg.Go(func() {
			c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
			defer c.CloseIdleConnections()
			for ctx.Err() == nil {
				resp, err := c.Get(s.base + "/metrics")
				if err != nil {
					failed.Add(1)
					continue
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				scrapes.Add(1)
				bytes.Add(n)
			}
		})
	}
	during = s.readyzLatency()
	wg.Wait()
	cancel()
	h.row("serve, 100 tcp", fmt.Sprintf("%d concurrent /metrics scrapers for %s", scrapers, scrapeFor),
		fmt.Sprintf("%d scrapes (%.0f KB each), %d failed; a kubelet /readyz during it: %s", scrapes.Load(), float64(bytes.Load())/float64(max(scrapes.Load(), 1))/1e3, failed.Load(), during),
		time.Since(start), s.cpu()-cpu0, s.status("VmHWM"), fmt.Sprintf("VmRSS %s", mb(s.status("VmRSS"))))
	s.stop()
}
