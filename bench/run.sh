#!/bin/sh
# bench/run.sh — measure every budget depprobe keeps (docs/performance.md)
# against the tools users have today, in one run: `make bench` (or
# `sh bench/run.sh [-quick]`).
#
# Builds depprobe as the Dockerfile does (static, stripped), installs the npm
# baselines into bench/.node (pinned by the package-lock.json files there),
# runs bench/harness (a Go module of its own, bench/go.mod, so that the
# product's go vet ./... and go test ./... never build it), prints the table
# and writes it to bench/results.md.
#
# Needs root (nftables counts SYNs on lo; the dropped-SYN figure uses two
# network namespaces of its own) and, from Debian: nftables iproute2
# wait-for-it netcat-openbsd wrk time nodejs npm. Whole run: about 10 minutes.
# Not part of CI's pass/fail. Touches the network only on loopback and inside
# the namespaces it creates; removes them, its nft table and its processes on
# exit, also when interrupted.
set -eu

cd "$(dirname "$0")/.."
GO=${GO:-go}
tag="dpb$$"
work=$(mktemp -d /tmp/depprobe-bench.XXXXXX)

cleanup() {
	# The harness cleans up after itself; this covers a harness that was
	# killed outright.
	ip netns del "${tag}c" 2>/dev/null || true
	ip netns del "${tag}s" 2>/dev/null || true
	nft delete table inet "$tag" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

missing=""
for c in nft ip wait-for-it nc wrk node npm timeout /usr/bin/time; do
	command -v "$c" >/dev/null 2>&1 || missing="$missing $c"
done
if [ -n "$missing" ]; then
	echo "bench: missing:$missing" >&2
	echo "bench: apt-get install -y nftables iproute2 wait-for-it netcat-openbsd wrk time nodejs npm" >&2
	exit 1
fi
if [ "$(id -u)" != 0 ]; then
	echo "bench: run as root (nftables counters and network namespaces)" >&2
	exit 1
fi

for t in wait-on wait-port; do
	if [ ! -x "bench/.node/$t/node_modules/.bin/$t" ]; then
		echo "bench: npm ci $t" >&2
		(cd "bench/.node/$t" && npm ci --no-audit --no-fund --silent)
	fi
done

echo "bench: building depprobe and the harness" >&2
CGO_ENABLED=0 $GO build -trimpath -ldflags '-s -w' -o "$work/depprobe" ./cmd/depprobe
# The start-up budget's yardstick, built the same way.
(cd bench && CGO_ENABLED=0 $GO build -trimpath -ldflags '-s -w' -o "$work/dialer" ./dialer)
# The same with crypto/tls and net/http linked, as depprobe must: what that
# stack alone costs of the start-up ratio.
(cd bench && CGO_ENABLED=0 $GO build -trimpath -ldflags '-s -w' -tags stack -o "$work/stack-dialer" ./dialer)
(cd bench && $GO build -o "$work/harness" ./harness)

# Not exec: the traps above must run after the harness ends.
"$work/harness" -depprobe "$work/depprobe" -dialer "$work/dialer" -stack-dialer "$work/stack-dialer" -node bench/.node -tag "$tag" -out bench/results.md "$@"
