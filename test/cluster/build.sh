#!/usr/bin/env bash
# Builds (once) and caches the local control plane binaries outside the repository:
#   kube-apiserver, kube-controller-manager, kube-scheduler  from module k8s.io/kubernetes
#   etcd                                                     from module go.etcd.io/etcd/server/v3
#   kwok                                                     from module sigs.k8s.io/kwok
#   kubectl (the baseline of bench/install)                  from module k8s.io/kubernetes
#   kustomize (renders kustomizations in tests and the demo) from module sigs.k8s.io/kustomize/kustomize/v5
# Only the Go module proxy is used. Prints the bin folder on the last line of stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"
cache=${KFOPS_CACHE:-$HOME/.cache/kfops}
bin="$cache/k8s-$K8S_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION/bin"
work="$cache/build"
mkdir -p "$bin" "$work"
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false
log() { printf '[cluster:build %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

have() {
  [ -x "$bin/$1" ] || return 1
  if [ "$1" = kubectl ]; then "$bin/kubectl" version --client >/dev/null 2>&1; else "$bin/$1" --version >/dev/null 2>&1; fi
}

build_kubernetes() {
  if have kube-apiserver && have kube-controller-manager && have kube-scheduler && have kubectl; then
    log "kubernetes $K8S_VERSION: cached"; return
  fi
  log "kubernetes $K8S_VERSION: resolving the module (first build takes 15-30 min on 2 cores)"
  local dir="$work/kubernetes-$K8S_VERSION" gomod staging minor
  mkdir -p "$dir"
  gomod=$(cd "$dir" && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
  [ -f "$gomod" ] || { log "cannot find go.mod of k8s.io/kubernetes@$K8S_VERSION"; exit 1; }
  # Staging modules are required at v0.0.0 and replaced by ./staging paths upstream;
  # here each one is replaced by its published version v0.<minor>.<patch>.
  staging="v0.${K8S_VERSION#v1.}"
  {
    echo "module kfops.local/kubernetes-build"
    echo
    echo "go $(sed -n 's/^go //p' "$gomod")"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    echo "replace ("
    grep -E '^[[:space:]]+k8s\.io/[a-z0-9./-]+ v0\.0\.0$' "$gomod" | awk -v v="$staging" '{print "\t" $1 " => " $1 " " v}'
    echo ")"
  } > "$dir/go.mod"
  log "kubernetes: $(grep -c '=>' "$dir/go.mod") staging modules replaced with $staging"
  (cd "$dir" && go get "k8s.io/kubernetes/cmd/kube-apiserver@$K8S_VERSION" \
    "k8s.io/kubernetes/cmd/kube-controller-manager@$K8S_VERSION" "k8s.io/kubernetes/cmd/kube-scheduler@$K8S_VERSION" \
    "k8s.io/kubernetes/cmd/kubectl@$K8S_VERSION" >&2)
  minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
  local ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
  for cmd in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    have "$cmd" && { log "$cmd: cached"; continue; }
    log "building $cmd"
    (cd "$dir" && go build -trimpath -ldflags "$ldflags" -o "$bin/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd" >&2)
    mv "$bin/$cmd.tmp" "$bin/$cmd"
    log "$cmd: $(have "$cmd" && echo "$K8S_VERSION")"
  done
}

build_etcd() {
  have etcd && { log "etcd $ETCD_VERSION: cached"; return; }
  log "building etcd $ETCD_VERSION"
  local dir="$work/etcd-$ETCD_VERSION"
  mkdir -p "$dir"
  # go install refuses the module because its go.mod has a relative replace; a wrapper module builds it.
  printf 'module kfops.local/etcd-build\n\ngo 1.24\n' > "$dir/go.mod"
  (cd "$dir" && go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >&2 &&
    go build -trimpath -ldflags "-s -w" -o "$bin/etcd.tmp" go.etcd.io/etcd/server/v3 >&2)
  mv "$bin/etcd.tmp" "$bin/etcd"
  log "etcd: $("$bin/etcd" --version | head -1)"
}

build_kwok() {
  have kwok && { log "kwok $KWOK_VERSION: cached"; return; }
  log "building kwok $KWOK_VERSION"
  GOBIN="$bin" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" >&2
  log "kwok: $("$bin/kwok" --version 2>&1 | head -1)"
}

build_kustomize() {
  if [ -x "$bin/kustomize" ] && "$bin/kustomize" version 2>/dev/null | grep -q "$KUSTOMIZE_VERSION"; then
    log "kustomize $KUSTOMIZE_VERSION: cached"; return
  fi
  log "building kustomize $KUSTOMIZE_VERSION"
  GOBIN="$bin" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION" >&2
  log "kustomize: $("$bin/kustomize" version 2>&1 | head -1)"
}

case "${1:-all}" in
  all) build_etcd; build_kwok; build_kustomize; build_kubernetes ;;
  kubernetes|etcd|kwok|kustomize) "build_$1" ;;
  *) echo "usage: $0 [all|kubernetes|etcd|kwok|kustomize]" >&2; exit 2 ;;
esac
echo "$bin"
