#!/usr/bin/env bash
# Builds the real test-cluster components from Go modules, once, into a cache keyed by version:
#   kube-apiserver, kube-controller-manager, kube-scheduler, kubectl (k8s.io/kubernetes),
#   etcd (go.etcd.io/etcd/server/v3), kwok (sigs.k8s.io/kwok), helm (helm.sh/helm/v3), Argo's
#   workflow-controller (github.com/argoproj/argo-workflows/v4, with its CRDs and RBAC manifests),
#   and the moto AWS emulator (PyPI) when moto_server is not on PATH.
# Versions come from packages/testenv/src/tools.ts (VERSIONS), which passes them in.
# Idempotent: a component whose binary is already cached is skipped. Prints the bin dir last.
# Usage: install-tools.sh [component...]   (default: all)
set -euo pipefail

KUBE_VERSION="${KEIKO_KUBE_VERSION:-v1.37.2}"
ETCD_VERSION="${KEIKO_ETCD_VERSION:-v3.6.16}"
KWOK_VERSION="${KEIKO_KWOK_VERSION:-v0.8.0}"
HELM_VERSION="${KEIKO_HELM_VERSION:-v3.22.0}"
MOTO_VERSION="${KEIKO_MOTO_VERSION:-5.2.1}"
ARGO_VERSION="${KEIKO_ARGO_VERSION:-v4.0.5}"

CACHE="${KEIKO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/keiko}"
BIN="$CACHE/bin"
mkdir -p "$BIN"
# One installer at a time per cache (parallel test runs, several checkouts on one machine).
exec 9>"$CACHE/.install.lock"
flock 9
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:--buildvcs=false}"
LDFLAGS_STRIP="-s -w"

log() { printf '[install-tools] %s\n' "$*" >&2; }
have() { [ -x "$BIN/$1-$2" ]; }

# k8s.io/kubernetes cannot be built directly (its go.mod replaces k8s.io/* with ./staging), so a
# wrapper module requires it and points every staging repo at its published v0.Y.Z twin.
build_kubernetes() {
  local want=(kube-apiserver kube-controller-manager kube-scheduler kubectl) missing=() c
  for c in "${want[@]}"; do have "$c" "$KUBE_VERSION" || missing+=("$c"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  local staging="v0.${KUBE_VERSION#v1.}" work="$CACHE/src/kubernetes-$KUBE_VERSION"
  log "building ${missing[*]} $KUBE_VERSION (first time only; several minutes)"
  mkdir -p "$work" && cd "$work"
  [ -f go.mod ] || go mod init keiko.local/kube-build >/dev/null 2>&1
  local modfile
  modfile=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  go mod edit -require="k8s.io/kubernetes@$KUBE_VERSION"
  local repo
  for repo in $(sed -n 's#^\s*\(k8s.io/[a-z0-9.-]*\) => ./staging/.*#\1#p' "$modfile"); do
    go mod edit -replace="$repo=$repo@$staging"
  done
  cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
  go mod tidy -e >/dev/null 2>&1 || true
  local minor="${KUBE_VERSION#v1.}"; minor="${minor%%.*}"
  local ver="-X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitTreeState=clean"
  for c in "${missing[@]}"; do
    go build -tags tools -ldflags "$LDFLAGS_STRIP $ver" -o "$BIN/$c-$KUBE_VERSION.tmp" "k8s.io/kubernetes/cmd/$c"
    mv "$BIN/$c-$KUBE_VERSION.tmp" "$BIN/$c-$KUBE_VERSION"
    log "built $c $KUBE_VERSION"
  done
}

# A wrapper module for a main package whose own go.mod has replace directives (go install refuses those).
build_wrapped() { # name version module pkg
  local name=$1 version=$2 module=$3 pkg=$4
  have "$name" "$version" && return 0
  log "building $name $version"
  local work="$CACHE/src/$name-$version"
  mkdir -p "$work" && cd "$work"
  [ -f go.mod ] || go mod init "keiko.local/$name-build" >/dev/null 2>&1
  go mod edit -require="$module@$version"
  printf '//go:build tools\n\npackage tools\n\nimport _ "%s"\n' "$pkg" > tools.go
  go mod tidy -e >/dev/null 2>&1 || true
  go build -tags tools -ldflags "$LDFLAGS_STRIP" -o "$BIN/$name-$version.tmp" "$pkg"
  mv "$BIN/$name-$version.tmp" "$BIN/$name-$version"
  log "built $name $version"
}

# The AWS emulator is a Python package; machines here usually have it, a bare one gets it from PyPI.
install_moto() {
  command -v moto_server >/dev/null 2>&1 && return 0
  log "installing moto[server]==$MOTO_VERSION"
  python3 -m pip install --quiet "moto[server]==$MOTO_VERSION"
}

# KWOK needs Stage definitions to play kubelets. Its module ships the "fast" set (nodes turn Ready and
# heartbeat through Leases; pods run, Job pods complete, deleted pods go at once): gather them in one file.
install_kwok_stages() {
  local out="$BIN/kwok-stages-$KWOK_VERSION.yaml"
  [ -s "$out" ] && return 0
  local dir
  dir=$(cd "$CACHE/src/kwok-$KWOK_VERSION" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
  local f first=1
  : > "$out.tmp"
  for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
           pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    [ $first -eq 1 ] || echo '---' >> "$out.tmp"
    first=0
    cat "$dir/kustomize/stage/$f" >> "$out.tmp"
  done
  mv "$out.tmp" "$out"
  log "wrote kwok stages $out"
}

# Argo's workflow-controller (github.com/argoproj/argo-workflows/v4, served by the module proxy; v3 is not)
# and, beside it, the module's manifests the test cluster installs: the full CRDs (not the minimal ones
# that keep unknown fields), the controller's ServiceAccount and RBAC (cluster-install's). Copied out of the module cache so the test
# cluster never needs Go at run time. KEIKO_ARGO=false skips it (a machine that cannot build it).
install_argo() {
  [ "${KEIKO_ARGO:-true}" = false ] && { log "KEIKO_ARGO=false: not building Argo's workflow-controller"; return 0; }
  GOFLAGS="$GOFLAGS -mod=mod" build_wrapped workflow-controller "$ARGO_VERSION" \
    github.com/argoproj/argo-workflows/v4 github.com/argoproj/argo-workflows/v4/cmd/workflow-controller
  local out="$BIN/argo-manifests-$ARGO_VERSION"
  [ -d "$out" ] && return 0
  local dir
  dir=$(cd "$CACHE/src/workflow-controller-$ARGO_VERSION" && go list -m -f '{{.Dir}}' github.com/argoproj/argo-workflows/v4)
  rm -rf "$out.tmp" && mkdir -p "$out.tmp/crds" "$out.tmp/controller"
  cp "$dir"/manifests/base/crds/full/argoproj.io_*.yaml "$out.tmp/crds/"
  cp "$dir"/manifests/cluster-install-no-crds/workflow-controller-rbac/workflow-*.yaml \
     "$dir"/manifests/base/workflow-controller/workflow-controller-sa.yaml "$out.tmp/controller/"
  chmod -R u+w "$out.tmp" && mv "$out.tmp" "$out"
  log "copied Argo $ARGO_VERSION CRDs and RBAC to $out"
}

components=("$@")
[ ${#components[@]} -eq 0 ] && components=(moto etcd kubernetes kwok helm argo)
for c in "${components[@]}"; do
  case "$c" in
    kubernetes) build_kubernetes ;;
    etcd) build_wrapped etcd "$ETCD_VERSION" go.etcd.io/etcd/server/v3 go.etcd.io/etcd/server/v3 ;;
    kwok) build_wrapped kwok "$KWOK_VERSION" sigs.k8s.io/kwok sigs.k8s.io/kwok/cmd/kwok && install_kwok_stages ;;
    moto) install_moto ;;
    argo) install_argo ;;
    helm) build_wrapped helm "$HELM_VERSION" helm.sh/helm/v3 helm.sh/helm/v3/cmd/helm ;;
    *) log "unknown component $c"; exit 2 ;;
  esac
done
echo "$BIN"
