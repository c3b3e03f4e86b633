#!/usr/bin/env bash
# Builds kube-apiserver and kube-controller-manager from Debian bookworm's
# `kubernetes` source package (it vendors its Go dependencies, so no module
# download is needed) and caches them under the user's cache dir, keyed by
# version, so a machine pays the ~4 minute build once.
# Prints the directory holding the binaries on stdout.
set -euo pipefail

# Debian bookworm ships 1.20.2 (as version 1.20.5+really1.20.2).
K8S_VERSION="${K8S_VERSION:-1.20.2}"
CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/abshift"
BIN_DIR="$CACHE_ROOT/k8s-$K8S_VERSION/bin"

log() { echo "[build-k8s] $*" >&2; }

if [[ -x "$BIN_DIR/kube-apiserver" && -x "$BIN_DIR/kube-controller-manager" ]]; then
  echo "$BIN_DIR"
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi

need_pkgs=()
command -v go >/dev/null || need_pkgs+=(golang-go)
command -v rsync >/dev/null || need_pkgs+=(rsync)
command -v etcd >/dev/null || need_pkgs+=(etcd-server)
command -v dpkg-source >/dev/null || need_pkgs+=(dpkg-dev)
# The vendored modern-go/reflect2 1.0.1 panics when built with Go >= 1.18
# (every map decode in the apiserver fails); Debian packages the fixed 1.0.2.
REFLECT2=/usr/share/gocode/src/github.com/modern-go/reflect2
[[ -f "$REFLECT2/go_above_118.go" ]] || need_pkgs+=(golang-github-modern-go-reflect2-dev)

# deb-src entry mirroring the machine's own Debian entry, so `apt-get source` works.
SRC_LIST=/etc/apt/sources.list.d/abshift-src.sources
if [[ ! -f "$SRC_LIST" ]]; then
  log "adding deb-src entry ($SRC_LIST)"
  if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
    # Copy the stanzas of the main Debian entry, changing only Types.
    awk 'BEGIN{RS=""; ORS="\n\n"} /Types: deb/ && !/security/ {sub(/Types: deb/, "Types: deb-src"); print}' \
      /etc/apt/sources.list.d/debian.sources | $SUDO tee "$SRC_LIST" >/dev/null
  else
    grep -E '^deb ' /etc/apt/sources.list | grep -v security | sed 's/^deb /deb-src /' \
      | $SUDO tee /etc/apt/sources.list.d/abshift-src.list >/dev/null
    SRC_LIST=/etc/apt/sources.list.d/abshift-src.list
  fi
  $SUDO apt-get update -qq >&2
elif [[ ${#need_pkgs[@]} -gt 0 ]]; then
  $SUDO apt-get update -qq >&2
fi
if [[ ${#need_pkgs[@]} -gt 0 ]]; then
  log "installing ${need_pkgs[*]}"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_pkgs[@]}" >&2
fi

WORK="$CACHE_ROOT/src-$K8S_VERSION"
mkdir -p "$WORK"
cd "$WORK"
SRC_DIR=$(find . -maxdepth 1 -type d -name "kubernetes-*" | head -n1)
if [[ -z "$SRC_DIR" ]]; then
  log "fetching Debian source package kubernetes"
  apt-get source -qq kubernetes >&2
  SRC_DIR=$(find . -maxdepth 1 -type d -name "kubernetes-*" | head -n1)
fi
[[ -n "$SRC_DIR" ]] || { log "kubernetes source not found after apt-get source"; exit 1; }
cd "$SRC_DIR"
rsync -a --delete --exclude go.mod "$REFLECT2/" vendor/github.com/modern-go/reflect2/
mkdir -p .go/src/k8s.io
ln -sfn ../../.. .go/src/k8s.io/kubernetes
log "building kube-apiserver and kube-controller-manager (a few minutes)"
GOPATH="$PWD/.go" CGO_ENABLED=0 HOME=/tmp GOPROXY=off GOFLAGS=-mod=vendor \
  make WHAT="cmd/kube-apiserver cmd/kube-controller-manager" >&2
mkdir -p "$BIN_DIR"
for b in kube-apiserver kube-controller-manager; do
  found=$(find _output -type f -name "$b" -perm -u+x | head -n1)
  [[ -n "$found" ]] || { log "build produced no $b"; exit 1; }
  cp "$found" "$BIN_DIR/$b.tmp" && mv "$BIN_DIR/$b.tmp" "$BIN_DIR/$b"
done
log "cached in $BIN_DIR"
echo "$BIN_DIR"
