#!/usr/bin/env bash
# Builds the programs the e2e scenarios run that no Debian package gives, from the Go
# module proxy, into the user's cache directory, and prints the directory that holds them:
#
#   e2e/components/build.sh kube|coredns|compose|frontend|helm|pause
#
# Each component is built once per version and Go version:
#   ${XDG_CACHE_HOME:-~/.cache}/depprobe-e2e/<component>-<version>-<go version>/
# into a temporary directory renamed into place at the end, so an interrupted build never
# leaves a directory that a later run would trust. The versions live in the go.mod of each
# component's folder beside this script (kube/, coredns/, compose/, frontend/); helm is the one the
# packaging module builds, and shares its cache.
set -euo pipefail

# All in a function, read whole before it runs: editing this file during a long build
# cannot change what the running build does next.
main() {
here=$(cd "$(dirname "$0")" && pwd)
local component=${1:?usage: build.sh kube|coredns|compose|frontend|helm|pause}
gover=$(go env GOVERSION)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/depprobe-e2e

# modversion MODULE DIR: the version DIR's go.mod selects for MODULE.
modversion() { (cd "$2" && go list -m -f '{{.Version}}' "$1"); }

case $component in
kube)
  version=$(modversion k8s.io/kubernetes "$here/kube")
  ;;
coredns)
  version=$(modversion github.com/coredns/coredns "$here/coredns")
  ;;
compose)
  version=$(modversion github.com/docker/compose/v2 "$here/compose")
  ;;
frontend)
  version=$(modversion github.com/moby/buildkit "$here/frontend")
  ;;
helm)
  # The packaging module's helm, in its cache: one build serves both.
  version=$(sed -n 's/^const helmModule = "helm.sh\/helm\/v3\/cmd\/helm@\(v[^"]*\)"$/\1/p' "$here/../../packaging/helm_test.go")
  ;;
pause)
  # kubernetes' own pause.c, from the same module as the kube binaries.
  version=$(modversion k8s.io/kubernetes "$here/kube")
  ;;
*)
  echo "build.sh: unknown component $component" >&2
  exit 2
  ;;
esac
[ -n "$version" ] || { echo "build.sh: no version found for $component" >&2; exit 1; }

if [ "$component" = helm ]; then
  dest=${XDG_CACHE_HOME:-$HOME/.cache}/depprobe-packaging/helm@$version
else
  dest=$cache/$component-$version-$gover
fi
if [ -d "$dest" ]; then
  echo "$dest"
  exit 0
fi

mkdir -p "$(dirname "$dest")"
tmp=$(mktemp -d "$(dirname "$dest")/.build-$component-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
export CGO_ENABLED=0

case $component in
kube)
  # One go build for every binary, so the packages they share compile once. The version
  # variables are what kubernetes' hack/lib/version.sh sets; without them every component
  # reports v0.0.0. The tags are the ones its release build uses.
  minor=${version#v1.}
  minor=${minor%%.*}
  ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
  done
  (cd "$here/kube" && go build -trimpath -tags selinux,notest,grpcnotrace -ldflags "$ldflags" -o "$tmp/" \
    k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler \
    k8s.io/kubernetes/cmd/kubelet \
    k8s.io/kubernetes/cmd/kube-proxy \
    k8s.io/kubernetes/cmd/kubectl)
  ;;
coredns)
  (cd "$here/coredns" && go build -trimpath -ldflags "-s -w" -o "$tmp/coredns" github.com/coredns/coredns)
  ;;
compose)
  # Installed as a CLI plugin (docker compose) and usable on its own (docker-compose).
  (cd "$here/compose" && go build -trimpath \
    -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=$version" \
    -o "$tmp/docker-compose" github.com/docker/compose/v2/cmd)
  ;;
frontend)
  # As buildkit's own frontend Dockerfile builds it (release channel mainline: no extra tags).
  pkg=github.com/moby/buildkit/frontend/dockerfile/cmd/dockerfile-frontend
  (cd "$here/frontend" && go build -trimpath -tags "netgo static_build osusergo" \
    -ldflags "-s -w -X main.Version=$version" -o "$tmp/dockerfile-frontend" "$pkg")
  ;;
helm)
  # Exactly as packaging/helm_test.go builds it, outside any module.
  (cd "$tmp" && GOBIN=$tmp go install -trimpath "helm.sh/helm/v3/cmd/helm@$version")
  ;;
pause)
  src=$(cd "$here/kube" && go list -m -f '{{.Dir}}' k8s.io/kubernetes)/build/pause/linux/pause.c
  cc -Os -Wall -Werror -static -DVERSION="$version" -o "$tmp/pause" "$src"
  strip "$tmp/pause"
  ;;
esac

# -T: never into a directory that another build renamed into place meanwhile.
if ! mv -T "$tmp" "$dest" 2>/dev/null; then
  [ -d "$dest" ] || { echo "build.sh: cannot rename $tmp to $dest" >&2; exit 1; }
  rm -rf "$tmp"
fi
trap - EXIT
echo "build.sh: built $component $version with $gover in $(( $(date +%s) - start ))s" >&2
echo "$dest"
}
main "$@"
