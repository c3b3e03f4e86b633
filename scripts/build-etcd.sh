#!/usr/bin/env bash
# Builds an etcd server of a given version from the go.etcd.io/etcd Go modules
# (a test component only: current kube-apiservers need etcd 3.5 or newer, and
# Debian ships 3.4) and caches it under the user's cache dir, keyed by version.
# Prints the directory holding the `etcd` binary on stdout.
set -euo pipefail

ETCD_VERSION="${ETCD_VERSION:-3.5.35}"
CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/abshift"
BIN_DIR="$CACHE_ROOT/etcd-$ETCD_VERSION/bin"
log() { echo "[build-etcd] $*" >&2; }

if [[ -x "$BIN_DIR/etcd" ]]; then echo "$BIN_DIR"; exit 0; fi
command -v go >/dev/null || { log "Go is required to build etcd $ETCD_VERSION (the machine's Go)"; exit 1; }

WORK="$CACHE_ROOT/gomod-etcd-$ETCD_VERSION"
mkdir -p "$WORK" "$BIN_DIR"
cd "$WORK"
cat >go.mod <<MOD
module abshift.test/etcd-server

go 1.23
MOD
log "building etcd $ETCD_VERSION from go.etcd.io/etcd/server/v3 (about a minute)"
GOFLAGS=-mod=mod go get "go.etcd.io/etcd/server/v3@v$ETCD_VERSION" >&2
CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -o "$BIN_DIR/etcd.tmp" \
  -ldflags "-X go.etcd.io/etcd/api/v3/version.GitSHA=module-v$ETCD_VERSION" \
  go.etcd.io/etcd/server/v3 >&2
mv "$BIN_DIR/etcd.tmp" "$BIN_DIR/etcd"
log "cached in $BIN_DIR"
echo "$BIN_DIR"
