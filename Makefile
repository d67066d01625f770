# The README's commands. `make test` is what CI runs (through .ci/run).
GO ?= go

.PHONY: build test fuzz bench

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w' -o depprobe ./cmd/depprobe

# Unit, integration and fault tests of the product module (the fuzz seed
# corpus runs as part of them), then the packaging module's validations, then
# the bench module's vet and unit tests (make bench itself is not part of CI).
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...
	cd packaging && $(GO) vet ./... && $(GO) test -count=1 -timeout 30m ./...
	cd bench && $(GO) vet ./... && $(GO) test -count=1 ./...

# Fuzz the target grammar for a while (not part of CI).
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParseSpecs -fuzztime 60s ./probe/

# Every budget of docs/performance.md, side by side with wait-for-it, an nc -z
# loop, wait-on and wait-port, in one run (root; about 3 minutes; not part of
# CI). Writes bench/results.md.
bench:
	sh bench/run.sh
