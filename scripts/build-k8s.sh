#!/usr/bin/env bash
# Builds kube-apiserver and kube-controller-manager for the test clusters and
# caches them under the user's cache dir, keyed by version, so a machine pays
# each build once. Two sources, both real upstream code:
#   1.20.2  Debian bookworm's `kubernetes` source package (vendored, built with
#           Debian's Go 1.19: the vendored code predates newer Go's rules);
#   newer   the k8s.io/kubernetes Go module at that version, its staging
#           modules pinned to the matching v0.x releases, built with the
#           machine's Go through the module proxy.
# K8S_VERSION picks one (default 1.20.2). Prints the binaries' directory.
set -euo pipefail

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

install_bins() {
  local from=$1 b
  mkdir -p "$BIN_DIR"
  for b in kube-apiserver kube-controller-manager; do
    [[ -x "$from/$b" ]] || { log "build produced no $b"; exit 1; }
    cp "$from/$b" "$BIN_DIR/$b.tmp" && mv "$BIN_DIR/$b.tmp" "$BIN_DIR/$b"
  done
  log "cached in $BIN_DIR"
  echo "$BIN_DIR"
}

# A current release from the k8s.io/kubernetes module (1.34 and later are served).
build_from_module() {
  command -v go >/dev/null || { log "Go is required to build Kubernetes $K8S_VERSION"; exit 1; }
  local v="v$K8S_VERSION" minor patch work
  minor=$(cut -d. -f2 <<<"$K8S_VERSION"); patch=$(cut -d. -f3 <<<"$K8S_VERSION")
  work="$CACHE_ROOT/gomod-k8s-$K8S_VERSION"
  mkdir -p "$work/out"
  cd "$work"
  log "reading k8s.io/kubernetes@$v's go.mod"
  local gomod
  gomod=$(go mod download -json "k8s.io/kubernetes@$v" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
  [[ -f "$gomod" ]] || { log "k8s.io/kubernetes@$v could not be downloaded"; exit 1; }
  {
    echo "module abshift.test/k8s-servers"
    echo
    echo "go $(sed -n 's/^go //p' "$gomod")"
    echo
    echo "require k8s.io/kubernetes $v"
    echo
    echo "replace ("
    # Every staging module upstream replaces with a local path, pinned here to
    # the release published with the same minor and patch.
    sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#\1#p' "$gomod" |
      while read -r m; do echo "	$m => $m v0.$minor.$patch"; done
    echo ")"
  } >go.mod
  rm -f go.sum
  log "resolving modules for $v (first time: a few minutes of downloads)"
  GOFLAGS=-mod=mod go get "k8s.io/kubernetes/cmd/kube-apiserver@$v" "k8s.io/kubernetes/cmd/kube-controller-manager@$v" >&2
  # The version the binaries report, as upstream's hack/lib/version.sh sets it.
  local ldflags="" pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  log "building kube-apiserver and kube-controller-manager $v (first time: 10-20 minutes on 2 cores)"
  CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w $ldflags" -o out/ \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager >&2
  install_bins "$work/out"
}

# 1.20 from Debian bookworm's source package (1.20.5+really1.20.2).
build_from_debian() {
  local need_pkgs=()
  [[ -x /usr/lib/go-1.19/bin/go ]] || need_pkgs+=(golang-1.19-go)
  command -v rsync >/dev/null || need_pkgs+=(rsync)
  # testenv.sh runs 1.20 on Debian's etcd 3.4 (this script used to install it).
  command -v etcd >/dev/null || need_pkgs+=(etcd-server)
  command -v dpkg-source >/dev/null || need_pkgs+=(dpkg-dev)
  # The vendored modern-go/reflect2 1.0.1 panics when built with Go >= 1.18
  # (every map decode in the apiserver fails); Debian packages the fixed 1.0.2.
  local REFLECT2=/usr/share/gocode/src/github.com/modern-go/reflect2
  [[ -f "$REFLECT2/go_above_118.go" ]] || need_pkgs+=(golang-github-modern-go-reflect2-dev)

  # deb-src entry mirroring the machine's own Debian entry, so `apt-get source` works.
  local SRC_LIST=/etc/apt/sources.list.d/abshift-src.sources
  if [[ ! -f "$SRC_LIST" && ! -f /etc/apt/sources.list.d/abshift-src.list ]]; then
    log "adding deb-src entry ($SRC_LIST)"
    if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
      # Copy the stanzas of the main Debian entry, changing only Types.
      awk 'BEGIN{RS=""; ORS="\n\n"} /Types: deb/ && !/security/ {sub(/Types: deb/, "Types: deb-src"); print}' \
        /etc/apt/sources.list.d/debian.sources | $SUDO tee "$SRC_LIST" >/dev/null
    else
      grep -E '^deb ' /etc/apt/sources.list | grep -v security | sed 's/^deb /deb-src /' \
        | $SUDO tee /etc/apt/sources.list.d/abshift-src.list >/dev/null
    fi
    $SUDO apt-get update -qq >&2
  elif [[ ${#need_pkgs[@]} -gt 0 ]]; then
    $SUDO apt-get update -qq >&2
  fi
  if [[ ${#need_pkgs[@]} -gt 0 ]]; then
    log "installing ${need_pkgs[*]}"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_pkgs[@]}" >&2
  fi

  local WORK="$CACHE_ROOT/src-$K8S_VERSION" SRC_DIR
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
  log "building kube-apiserver and kube-controller-manager $K8S_VERSION with Go 1.19 (about 5 minutes)"
  PATH="/usr/lib/go-1.19/bin:$PATH" GOTOOLCHAIN=local GOPATH="$PWD/.go" CGO_ENABLED=0 HOME=/tmp \
    GOPROXY=off GOFLAGS=-mod=vendor make WHAT="cmd/kube-apiserver cmd/kube-controller-manager" >&2
  local found
  found=$(dirname "$(find _output -type f -name kube-apiserver -perm -u+x | head -n1)")
  install_bins "$PWD/$found"
}

case "$K8S_VERSION" in
  1.20.2) build_from_debian ;;
  # Debian's package is 1.20.2 whatever the patch asked for; caching it under
  # another 1.20.x would label 1.20.2 binaries with the wrong version.
  1.20.*) log "only 1.20.2 is available for 1.20 (Debian's source package)"; exit 1 ;;
  *) build_from_module ;;
esac
