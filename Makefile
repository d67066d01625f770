# The README's commands. `make test` is what CI runs (through .ci/run).
GO ?= go

.PHONY: build test lint e2e fuzz bench ferretdb

# staticcheck, pinned (2026.2.2: the release that supports Go 1.26), is
# installed once from the module proxy into a cache folder named for its
# version, so a change of the pin installs the new one.
STATICCHECK_VERSION = v0.8.2
TOOLS ?= $(HOME)/.cache/depprobe-tools
STATICCHECK = $(TOOLS)/staticcheck-$(STATICCHECK_VERSION)/staticcheck

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w' -o depprobe ./cmd/depprobe

# Unit, integration and fault tests of the product module (the fuzz seed
# corpus runs as part of them), then the packaging module's validations, then
# the bench module's vet and unit tests (make bench itself is not part of CI).
test: lint
	$(GO) test -race -count=1 -timeout 20m ./...
	cd packaging && $(GO) vet ./... && $(GO) test -count=1 -timeout 30m ./...
	cd bench && $(GO) vet ./... && $(GO) test -count=1 ./...

# depprobe's image in a real single-node Kubernetes cluster and a real Docker Engine with
# compose, offline (root; Debian's containerd, runc, CNI plugins, etcd and docker.io, which
# .ci/run installs). Cold, it first builds Kubernetes, CoreDNS, compose and BuildKit's
# Dockerfile frontend into ~/.cache/depprobe-e2e. See e2e/README.md.
e2e: $(STATICCHECK)
	cd e2e && $(STATICCHECK) ./...
	bash e2e/run.sh

# Gates that keep the code as it is written: gofmt (every module), go vet
# and staticcheck (the product and packaging modules).
lint: $(STATICCHECK)
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt -l: not formatted:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...
	cd packaging && $(STATICCHECK) ./...

$(STATICCHECK):
	GOBIN=$(dir $@) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

# FerretDB, the MongoDB-protocol server the mongodb:// tests run on the
# machine's PostgreSQL: built once from the module proxy into the user's
# cache (a copy of the module's source, with the version file its release
# build would generate). The tests find it there; .ci/run runs this first.
FERRETDB_VERSION = v1.24.2
FERRETDB = $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/depprobe/ferretdb-$(FERRETDB_VERSION)
ferretdb: $(FERRETDB)/ferretdb
$(FERRETDB)/ferretdb:
	rm -rf $(FERRETDB)/src && mkdir -p $(FERRETDB)
	cp -r "$$($(GO) mod download -json github.com/FerretDB/FerretDB@$(FERRETDB_VERSION) | sed -n 's/^\t"Dir": "\(.*\)",$$/\1/p')" $(FERRETDB)/src
	chmod -R u+w $(FERRETDB)/src
	echo $(FERRETDB_VERSION) > $(FERRETDB)/src/build/version/version.txt
	cd $(FERRETDB)/src && CGO_ENABLED=0 GOFLAGS=-mod=mod $(GO) build -trimpath -o $@.tmp ./cmd/ferretdb
	mv $@.tmp $@ && rm -rf $(FERRETDB)/src

# Fuzz the target grammar and every hand-written wire parser, FUZZTIME each
# (not part of CI; their seed corpora run with the tests). The parsers take
# bytes or a reader: no socket per input.
FUZZTIME ?= 60s
FUZZ = ./probe/:FuzzParseSpecs ./probe/proto/grpc/:FuzzFrames \
	./probe/proto/postgres/:FuzzErrorFields ./probe/proto/amqp/:FuzzMethods \
	./probe/proto/mysql/:FuzzPackets ./probe/proto/redis/:FuzzReplies \
	./probe/proto/nats/:FuzzLines ./probe/proto/mqtt/:FuzzConnack \
	./probe/proto/:FuzzExpect ./probe/proto/:FuzzParseHeader \
	./probe/proto/http/:FuzzJSONWant ./probe/proto/http/:FuzzHeaderWant \
	./probe/proto/memcached/:FuzzReplies ./probe/proto/kafka/:FuzzResponses \
	./probe/proto/mongodb/:FuzzReplies ./probe/proto/http/:FuzzClusterHealth \
	./probe/proto/:FuzzUnescape ./probe/proto/mysql/:FuzzResultSet \
	./probe/proto/postgres/:FuzzLogin
fuzz:
	@for t in $(FUZZ); do \
		echo "fuzz $${t#*:} in $${t%%:*} for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) "$${t%%:*}" || exit 1; \
	done

# Every budget of docs/performance.md, side by side with wait-for-it, an nc -z
# loop, wait-on and wait-port, in one run (root; about 10 minutes; not part of
# CI). Writes bench/results.md.
bench:
	sh bench/run.sh
