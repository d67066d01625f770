# The README's commands. `make test` is what CI runs (through .ci/run).
GO ?= go

.PHONY: build test e2e fuzz bench

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w' -o depprobe ./cmd/depprobe

# Unit, integration and fault tests of the product module (the fuzz seed
# corpus runs as part of them), then the packaging module's validations.
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...
	cd packaging && $(GO) vet ./... && $(GO) test -count=1 -timeout 30m ./...

# depprobe's image in a real single-node Kubernetes cluster and a real Docker Engine with
# compose, offline (root; Debian's containerd, runc, CNI plugins, etcd and docker.io, which
# .ci/run installs). Cold, it first builds Kubernetes, CoreDNS, compose and BuildKit's
# Dockerfile frontend into ~/.cache/depprobe-e2e. See e2e/README.md.
e2e:
	bash e2e/run.sh

# Fuzz the target grammar for a while (not part of CI).
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParseSpecs -fuzztime 60s ./probe/

# Every SPEC budget, side by side with wait-for-it, an nc -z loop, wait-on and
# wait-port, in one run (root; about 3 minutes; not part of CI). Writes
# bench/results.md.
bench:
	sh bench/run.sh
