# syntax=docker/dockerfile:1

# depprobe image: one static binary on distroless, nonroot, no shell.
#
#   docker build --build-arg VERSION=v0.1.0 -t ghcr.io/depprobe/depprobe:v0.1.0 .
#   docker buildx build --platform linux/amd64,linux/arm64 --build-arg VERSION=v0.1.0 .
#
# packaging/dockerfile_test.go checks this file with buildkit's own parser and builds the
# binary with the very `go build` line below, so the two cannot drift apart.

# The base images are build arguments so that a build that cannot pull them (a mirror, an
# offline test) can name others; the defaults are the images users get.
ARG GO_IMAGE=golang:1.26-trixie
ARG BASE_IMAGE=gcr.io/distroless/static-debian13:nonroot

# The build stage runs on the builder's own platform and cross-compiles for the target
# one: no emulation, and CGO_ENABLED=0 makes that possible.
FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS build
WORKDIR /src

# Module downloads in their own layer, so editing code does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download

COPY . .

# TARGETOS and TARGETARCH are set by BuildKit from --platform.
ARG TARGETOS TARGETARCH
# VERSION is what `depprobe version` prints and what the User-Agent carries.
ARG VERSION=dev
# -trimpath: no build paths in the binary; -s -w: no symbol table nor DWARF;
# -X main.version: the version stamp read by cmd/depprobe.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o /out/depprobe ./cmd/depprobe

# static-debian13:nonroot has CA certificates, /etc/passwd with nonroot (65532), tzdata,
# and no shell: the HEALTHCHECK and every command below must be in exec form.
FROM ${BASE_IMAGE}
ARG VERSION=dev
LABEL org.opencontainers.image.title="depprobe" \
      org.opencontainers.image.description="Waits until the dependencies of a pod or a compose service answer, and says why when they do not" \
      org.opencontainers.image.source="https://github.com/depprobe/depprobe" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/depprobe /depprobe
# Numeric, so that Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 65532:65532
# `depprobe serve` listens here (DEPPROBE_LISTEN).
EXPOSE 3377
# For a compose service that runs `serve` (or anything long-lived) with this image:
# one round of probes, exit 0 when every target is ready, 1 otherwise. Kubernetes ignores
# HEALTHCHECK; it uses the probes in the chart instead.
HEALTHCHECK --interval=10s --timeout=10s --start-period=5m --start-interval=1s --retries=3 \
    CMD ["/depprobe", "check"]
ENTRYPOINT ["/depprobe"]
# The common case: wait for DEPPROBE_TARGETS, then exit 0 (initContainer, one-shot service).
CMD ["wait"]
