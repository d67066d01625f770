package main

// Counting attempts: nftables counters on SYNs to a loopback port.

import (
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// counter counts SYNs (SYN without ACK) sent to a loopback port, with one
// named nft counter per watched port in a table of this run's own. The
// chain only counts: its policy is accept and it has no other rule.
type counter struct {
	table string
	mu    sync.Mutex
}

func newCounter(tag string) (*counter, error) {
	c := &counter{table: tag}
	if err := nft(fmt.Sprintf("add table inet %s\nadd chain inet %s out { type filter hook output priority 0; policy accept; }", c.table, c.table)); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *counter) close() { _ = nft("delete table inet " + c.table) }

// watched is one port's counter; all methods are no-ops on a nil counter.
type watched struct {
	c    *counter
	port int
	ok   bool
}

func (c *counter) watch(port int) *watched {
	w := &watched{c: c, port: port}
	if c == nil {
		return w
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	err := nft(fmt.Sprintf("add counter inet %[1]s p%[2]d\nadd rule inet %[1]s out oifname \"lo\" tcp dport %[2]d tcp flags & (syn | ack) == syn counter name \"p%[2]d\"", c.table, port))
	w.ok = err == nil
	return w
}

var nftPackets = regexp.MustCompile(`packets (\d+)`)

func (w *watched) read() (int64, bool) {
	if w.c == nil || !w.ok {
		return 0, false
	}
	out, err := exec.Command("nft", "list", "counter", "inet", w.c.table, fmt.Sprintf("p%d", w.port)).Output()
	if err != nil {
		return 0, false
	}
	m := nftPackets.FindSubmatch(out)
	if m == nil {
		return 0, false
	}
	n, err := strconv.ParseInt(string(m[1]), 10, 64)
	return n, err == nil
}

// remove deletes the port's rule and counter.
func (w *watched) remove() {
	if w.c == nil || !w.ok {
		return
	}
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	out, err := exec.Command("nft", "-a", "list", "chain", "inet", w.c.table, "out").Output()
	if err != nil {
		return
	}
	re := regexp.MustCompile(fmt.Sprintf(`counter name "p%d" # handle (\d+)`, w.port))
	if m := re.FindSubmatch(out); m != nil {
		_ = nft(fmt.Sprintf("delete rule inet %s out handle %s\ndelete counter inet %s p%d", w.c.table, m[1], w.c.table, w.port))
	}
}

func nft(script string) error {
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script + "\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("nft: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}
