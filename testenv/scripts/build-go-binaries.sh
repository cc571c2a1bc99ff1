#!/usr/bin/env bash
# Builds etcd, kube-apiserver, kube-controller-manager and kubectl from the Go module proxy into
# "$DQ_CACHE/bin". Each binary is skipped when it already exists. Wrapper modules keep upstream's
# replace directives out of the way (see ../shared/TESTENV.md).
set -euo pipefail

ETCD_VERSION="${ETCD_VERSION:-v3.6.14}"
KUBE_VERSION="${KUBE_VERSION:-v1.34.4}"
CACHE="${DQ_CACHE:-$HOME/.cache/dataquarantine}"
BIN="$CACHE/bin"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false
export GOMODCACHE="$CACHE/go/mod" GOCACHE="$CACHE/go/build" GOPATH="$CACHE/go/path"
mkdir -p "$BIN" "$CACHE/go/src"

step() { printf '[build] %s\n' "$*" >&2; }

build_etcd() {
  local out="$BIN/etcd-$ETCD_VERSION"
  if [[ -x "$out" ]]; then step "etcd $ETCD_VERSION cached"; return; fi
  local src="$CACHE/go/src/etcd-$ETCD_VERSION"
  mkdir -p "$src" && cd "$src"
  [[ -f go.mod ]] || go mod init local/etcdbin >/dev/null 2>&1
  step "etcd $ETCD_VERSION: resolving modules"
  go get -tool "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  step "etcd $ETCD_VERSION: compiling"
  go build -trimpath -ldflags='-s -w' -o "$out.tmp" go.etcd.io/etcd/server/v3
  mv "$out.tmp" "$out"
}

build_kube() {
  local targets=() name
  for name in kube-apiserver kube-controller-manager kubectl; do
    [[ -x "$BIN/$name-$KUBE_VERSION" ]] || targets+=("$name")
  done
  if [[ ${#targets[@]} -eq 0 ]]; then step "kubernetes $KUBE_VERSION cached"; return; fi
  local src="$CACHE/go/src/kubernetes-$KUBE_VERSION" staging="v0.${KUBE_VERSION#v1.}"
  mkdir -p "$src" && cd "$src"
  if [[ ! -f go.sum ]]; then
    step "kubernetes $KUBE_VERSION: writing wrapper module"
    local upstream
    upstream=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
    {
      echo "module local/kubebin"
      echo
      echo "go 1.24.0"
      echo
      echo "godebug default=go1.24"
      echo
      echo "require k8s.io/kubernetes $KUBE_VERSION"
      echo
      grep -E '^\s+k8s\.io/[a-z0-9-]+ => \./staging/' "$upstream" \
        | awk -v v="$staging" '{print "replace " $1 " => " $1 " " v}'
    } > go.mod
    cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
    step "kubernetes $KUBE_VERSION: resolving modules (go mod tidy, a few minutes cold)"
    go mod tidy
  fi
  local minor="${KUBE_VERSION#v1.}"; minor="${minor%%.*}"
  local ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  for name in "${targets[@]}"; do
    step "kubernetes $KUBE_VERSION: compiling $name (the first one takes 10-20 minutes cold)"
    go build -trimpath -ldflags="$ldflags" -o "$BIN/$name-$KUBE_VERSION.tmp" "k8s.io/kubernetes/cmd/$name"
    mv "$BIN/$name-$KUBE_VERSION.tmp" "$BIN/$name-$KUBE_VERSION"
  done
}

build_etcd
build_kube
step "done: $(ls "$BIN" | tr '\n' ' ')"
