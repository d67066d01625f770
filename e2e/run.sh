#!/usr/bin/env bash
# make e2e: build the components (cached), then run the scenarios. The test binary takes
# down what it brought up; this script's trap is the safety net for when it cannot (a
# panic, go test's -timeout, a signal): it reads the ledger the test wrote before creating
# anything and removes what is left, by recorded PID, network namespace and cgroup.
set -euo pipefail
cd "$(dirname "$0")"

ledger=$(mktemp "${TMPDIR:-/tmp}/depprobe-e2e-ledger.XXXXXX")
export DEPPROBE_E2E_LEDGER=$ledger

cleanup() {
  local left=0 sandboxes
  sandboxes=$(awk '$1 == "netns" { print $2 }' "$ledger")
  # Daemons first (last started first), then the namespaces and cgroups they were in. A
  # PID is killed only while it is still in one of the test's cgroups: a number reused by
  # another process since is left alone.
  while read -r kind value; do
    [ "$kind" = pid ] || continue
    for box in $sandboxes; do
      if grep -qs ":/$box\(/\|\$\)" "/proc/$value/cgroup"; then
        kill -KILL "$value" 2>/dev/null && left=$((left + 1)) || true
        break
      fi
    done
  done < <(tac "$ledger")
  while read -r kind value; do
    case $kind in
    cgroup)
      [ -d "$value" ] || continue
      left=$((left + 1))
      # Kill what is still inside (container shims and processes), deepest cgroup first.
      for _ in 1 2 3 4 5; do
        find "$value" -depth -type d | while read -r d; do
          xargs -r kill -KILL < "$d/cgroup.procs" 2>/dev/null || true
          rmdir "$d" 2>/dev/null || true
        done
        [ -d "$value" ] || break
        sleep 0.2
      done
      ;;
    netns)
      if [ -e "/run/netns/$value" ]; then
        left=$((left + 1))
        ip netns delete "$value" || true
      fi
      ;;
    esac
  done < "$ledger"
  # The state folders, once nothing runs in them (unless asked to keep them).
  while read -r kind value; do
    if [ "$kind" = dir ] && [ -d "$value" ] && [ -z "${DEPPROBE_E2E_KEEP:-}" ]; then
      left=$((left + 1))
      rm -rf "$value"
    fi
  done < "$ledger"
  [ "$left" -eq 0 ] || echo "e2e: cleaned up $left things the test binary left behind" >&2
  rm -f "$ledger"
}
trap cleanup EXIT

started=$(date +%s)
for c in kube coredns compose frontend helm pause; do
  components/build.sh "$c" >/dev/null
done
echo "e2e: components ready in $(( $(date +%s) - started ))s"

go vet ./...
go test -count=1 -timeout 60m -v .
echo "e2e: done in $(( $(date +%s) - started ))s"
