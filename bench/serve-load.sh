#!/usr/bin/env bash
# serve-load.sh: figures for `depprobe serve` against the SPEC budgets.
#
#   1. /readyz under load from a second process on loopback, 10 targets:
#      - open loop (bench/readyz-load.go): a fixed rate, latency measured from
#        each request's scheduled send time: p50, p99, errors;
#      - closed loop (wrk): the most requests/s it takes, and p99 at that
#        saturation (on a 2-core machine shared with wrk, that p99 is mostly
#        queueing);
#      with all 10 ready (200 ok) and with 5 of 10 refused (503, a line each).
#   2. Peak RSS (VmHWM) of serve probing 100 tcp targets on loopback
#      listeners, after 30 s.
#
# Self-contained and bounded (about a minute): it builds the binary as the
# Dockerfile does, starts its own listeners (python3) and depprobe, and
# stops exactly the processes it started. Needs go, python3 and wrk
# (Debian: apt-get install -y wrk). Prints numbers; asserts nothing.
#
#   bench/serve-load.sh [DURATION_OF_EACH_WRK_RUN, default 10s]
set -euo pipefail

dur=${1:-10s}
cd "$(dirname "$0")/.."
work=$(mktemp -d)
pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

command -v wrk >/dev/null || { echo "wrk not found: apt-get install -y wrk" >&2; exit 1; }

CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$work/depprobe" ./cmd/depprobe
echo "binary: $(stat -c %s "$work/depprobe") bytes (stripped, static)"
go build -o "$work/readyz-load" bench/readyz-load.go

# listeners N FILE: N loopback ports that accept and close at once; their
# port numbers go to FILE, one a line.
listeners() {
	python3 - "$1" "$2" <<'EOF' &
import selectors, socket, sys
n, out = int(sys.argv[1]), sys.argv[2]
sel, ports = selectors.DefaultSelector(), []
for _ in range(n):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(512)
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
    ports.append(s.getsockname()[1])
with open(out + ".tmp", "w") as f:
    f.write("\n".join(map(str, ports)) + "\n")
import os; os.rename(out + ".tmp", out)
while True:
    for key, _ in sel.select():
        try:
            c, _ = key.fileobj.accept()
            c.close()
        except BlockingIOError:
            pass
EOF
	pids+=($!)
	for _ in $(seq 100); do [ -s "$2" ] && return; sleep 0.05; done
	echo "listeners did not start" >&2; exit 1
}

# refused N FILE: N loopback ports where nothing listens.
refused() {
	python3 - "$1" > "$2" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
for s in socks:
    print(s.getsockname()[1]); s.close()
EOF
}

# serve TARGETS LOG: starts depprobe serve on a free port, sets $base.
serve() {
	DEPPROBE_TARGETS="$1" DEPPROBE_LISTEN=127.0.0.1:0 DEPPROBE_TERMINATION_LOG= \
		"$work/depprobe" serve 2>"$2" &
	serve_pid=$!
	pids+=("$serve_pid")
	base=
	for _ in $(seq 100); do
		base=$(sed -n 's/.*"listen":"\([^"]*\)".*/\1/p' "$2" | head -1)
		[ -n "$base" ] && break
		sleep 0.05
	done
	[ -n "$base" ] || { echo "serve did not start:" >&2; cat "$2" >&2; exit 1; }
	base="http://$base"
}

stop() { kill "$1"; wait "$1" 2>/dev/null || true; }

# load URL LABEL: one wrk run, then the figures on one line.
load() {
	local out
	out=$(wrk -t2 -c16 -d"$dur" --latency "$1")
	local rps p99 errs non2xx
	rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
	p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
	errs=$(awk '/Socket errors/ {print}' <<<"$out")
	non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
	printf '%-28s %10s req/s   p99 %-8s  socket errors: %s   non-2xx: %s\n' \
		"$2" "$rps" "$p99" "${errs:-none}" "${non2xx:-0}"
}

echo
echo "== /readyz under load: wrk -t2 -c16 -d$dur, loopback, 10 targets"
listeners 10 "$work/ports10"
targets=$(awk '{printf "%st%d=tcp://127.0.0.1:%s", (NR>1?",":""), NR, $1}' "$work/ports10")
serve "$targets" "$work/serve10.log"
sleep 1 # let the first round of attempts end
curl -fsS "$base/readyz" >/dev/null
for rate in 100 1000 5000; do
	printf '%-28s ' "open loop $rate/s, ok"; "$work/readyz-load" -url "$base/readyz" -rate "$rate" -d "$dur"
done
load "$base/readyz" "wrk, all ready (200 ok)"
load "$base/readyz?verbose" "wrk, all ready, ?verbose"
curl -fsS -H 'Accept: application/json' "$base/readyz" >/dev/null
stop "$serve_pid"

refused 5 "$work/refused5"
targets=$(head -5 "$work/ports10" | awk '{printf "%st%d=tcp://127.0.0.1:%s", (NR>1?",":""), NR, $1}')
targets="$targets,$(awk '{printf "%sr%d=tcp://127.0.0.1:%s", (NR>1?",":""), NR, $1}' "$work/refused5")"
serve "$targets" "$work/serve5.log"
sleep 1
printf '%-28s ' "open loop 1000/s, 503"; "$work/readyz-load" -url "$base/readyz" -rate 1000 -d "$dur" || true
load "$base/readyz" "wrk, 5 of 10 refused (503)"
echo "serve's peak RSS after the load runs: $(awk '/VmHWM/ {print $2, $3}' /proc/"$serve_pid"/status)"
stop "$serve_pid"

echo
echo "== peak RSS: serve with 100 tcp targets on loopback, 30 s"
listeners 100 "$work/ports100"
targets=$(awk '{printf "%st%d=tcp://127.0.0.1:%s", (NR>1?",":""), NR, $1}' "$work/ports100")
serve "$targets" "$work/serve100.log"
sleep 30
echo "ready: $(curl -s -o /dev/null -w '%{http_code}' "$base/readyz")  /metrics: $(curl -s "$base/metrics" | wc -c) bytes"
awk '/VmHWM|VmRSS/ {print "  " $1, $2, $3}' /proc/"$serve_pid"/status
echo "  CPU ticks (utime+stime, 1/100 s) over 30 s: $(awk '{print $14 + $15}' /proc/"$serve_pid"/stat)"
stop "$serve_pid"
