#!/bin/sh
# bench/readme-section.sh — turn bench/results.md (written by `make bench`)
# into bench/README-section.md, the README's "Performance" section.
set -eu
cd "$(dirname "$0")"
{
	cat <<'HEAD'
## Performance

Every budget in the specification is measured by one command, side by side
with the tools people use for the same job today, in the same run on the same
machine, so that the ratios hold even where absolute times do not:

```sh
make bench        # = sh bench/run.sh; as root; about 3 minutes
```

It builds depprobe as the Dockerfile does (static, stripped), installs the
npm baselines into `bench/.node` from their lock files, and needs, from
Debian, `nftables iproute2 wait-for-it netcat-openbsd wrk time nodejs npm`.
Attempts are counted exactly (an nftables counter on the SYNs to the target's
port on `lo`); the dropped-SYN figure runs in two network namespaces of its
own. The "nc loop" is `until nc -z HOST PORT; do sleep 1; done`. Every tool
runs with its defaults; where a tool needs a deadline to end, it gets one and
the table says so. Nothing is asserted: the bench is not part of CI.
`go test -run '^$' -bench . -benchmem ./probe/ ./readiness/` measures the
hot paths (one attempt, target parsing, the `/readyz` handler) alone.

HEAD
	cat results.md
} > README-section.md
