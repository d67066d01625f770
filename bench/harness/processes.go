package main

// Processes: each tool runs in a process group of its own, timed from
// exec to exit and killed with its whole tree; /proc readings of live ones.

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is one started tool, in a process group of its own so that the
// whole tree can be killed.
type proc struct {
	cmd   *exec.Cmd
	start time.Time
	end   time.Time
	done  chan struct{}
	err   error
}

// baseEnv is the harness's environment without DEPPROBE_* variables, so
// that every tool runs with its defaults.
func baseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DEPPROBE_") {
			env = append(env, kv)
		}
	}
	return append(env, "DEPPROBE_TERMINATION_LOG=/dev/null")
}

func (b *bench) launch(argv []string, env []string, stderr io.Writer) (*proc, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(baseEnv(), env...)
	cmd.Stderr = stderr // nil: /dev/null, no copying goroutine
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	p.start = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	pid := cmd.Process.Pid
	b.procs.Store(pid, p)
	go func() {
		p.err = cmd.Wait()
		p.end = time.Now()
		// The group may outlive its leader (sleep, nc): end it too.
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		b.procs.Delete(pid)
		close(p.done)
	}()
	return p, nil
}

// wait waits up to limit for p to exit by itself; after that it kills p's
// group. It reports whether p exited by itself.
func (p *proc) wait(ctx context.Context, limit time.Duration) bool {
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case <-p.done:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	p.kill()
	return false
}

func (p *proc) kill() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

func (p *proc) elapsed() time.Duration { return p.end.Sub(p.start) }

func (p *proc) exitCode() int { return p.cmd.ProcessState.ExitCode() }

// usage is the rusage of the process and of the descendants it waited for:
// user+sys CPU, and the largest peak RSS among them.
func (p *proc) usage() (cpu time.Duration, maxRSS int64) {
	ru, ok := p.cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0, 0
	}
	cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return cpu, ru.Maxrss * 1024
}

// minorFaults is the minor page faults of the process and of the
// descendants it waited for: pages touched for the first time, the main
// cost of starting a bigger binary.
func (p *proc) minorFaults() int64 {
	ru, ok := p.cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0
	}
	return ru.Minflt
}

func (b *bench) cleanup() {
	b.procs.Range(func(_, v any) bool {
		v.(*proc).kill()
		return true
	})
	if b.nft != nil {
		b.nft.close()
	}
	// The namespaces go in droppedSYN's own defer; this is the fallback.
	for _, ns := range []string{b.o.tag + "c", b.o.tag + "s"} {
		_ = exec.Command("ip", "netns", "del", ns).Run()
	}
}

// freePort is a loopback port that nothing listens on, outside the
// ephemeral range so that no other program's connect takes it meanwhile.
func (b *bench) freePort() int {
	for {
		p := 20000 + rand.IntN(10000)
		if _, dup := b.used.LoadOrStore(p, true); dup {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		l.Close()
		return p
	}
}

// listen listens on 127.0.0.1:port and accepts (and closes) connections
// until the returned listener is closed.
func listen(port int) (net.Listener, error) {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return nil, err
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return l, nil
}

// procCPU is a running process's CPU time so far: the sum over its threads
// of /proc/PID/task/TID/schedstat's first field (nanoseconds on a CPU),
// finer than /proc/PID/stat's 10 ms ticks. Go keeps its threads, so none
// is lost to a thread that exited.
func procCPU(p *proc) time.Duration {
	dir := fmt.Sprintf("/proc/%d/task", p.cmd.Process.Pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var total time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(filepath.Join(dir, t.Name(), "schedstat"))
		if err != nil {
			continue
		}
		if f := strings.Fields(string(b)); len(f) > 0 {
			ns, _ := strconv.ParseInt(f[0], 10, 64)
			total += time.Duration(ns)
		}
	}
	return total
}

// procMem is a VmRSS or VmHWM line of a running process, in MB.
func procMem(p *proc, field string) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return "?"
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kbs, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return fmt.Sprintf("%.1f MB", kbs*1024/1e6)
		}
	}
	return "?"
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// lockedBuffer is a strings.Builder safe for exec's copying goroutine and
// a concurrent reader.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
