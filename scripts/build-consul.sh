#!/usr/bin/env bash
# Builds a consul agent from the github.com/hashicorp/consul Go module (a test
# component only: `abshift sync consul` is tested against real servers) and
# caches it under the user's cache dir, keyed by version; prints the binary's directory.
set -euo pipefail

# 1.14.11: the newest release under the MPL-2.0 that needs no envoyextensions or
# troubleshoot submodule (not to be used here); 1.16 and later are BUSL.
CONSUL_VERSION="${CONSUL_VERSION:-1.14.11}"
CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/abshift"
BIN_DIR="$CACHE_ROOT/consul-$CONSUL_VERSION/bin"
log() { echo "[build-consul] $*" >&2; }

if [[ -x "$BIN_DIR/consul" ]]; then echo "$BIN_DIR"; exit 0; fi
command -v go >/dev/null || { log "Go is required to build consul $CONSUL_VERSION (the machine's Go)"; exit 1; }

v="v$CONSUL_VERSION"
WORK="$CACHE_ROOT/gomod-consul-$CONSUL_VERSION"
mkdir -p "$WORK" "$BIN_DIR"
cd "$WORK"
log "reading github.com/hashicorp/consul@$v's go.mod"
info=$(go mod download -json "github.com/hashicorp/consul@$v")
gomod=$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p' <<<"$info")
dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' <<<"$info")
[[ -f "$gomod" && -d "$dir" ]] || { log "github.com/hashicorp/consul@$v could not be downloaded"; exit 1; }
grep -q "Mozilla Public License" "$dir/LICENSE" ||
  { log "consul $v is not under the MPL-2.0 (later releases are BUSL); pick an older one"; exit 1; }
{
  echo "module abshift.test/consul-server"
  echo
  echo "go $(sed -n 's/^go //p' "$gomod")"
  echo
  echo "require github.com/hashicorp/consul $v"
  echo
  # Upstream replaces its own submodules (api, sdk, proto-public) with local
  # paths; pin each to the published version that the release's go.mod requires.
  sed -n 's#^\(replace \)\{0,1\}[[:space:]]*\(github.com/hashicorp/consul/[a-z-]*\) => \./.*#\2#p' "$gomod" |
    while read -r m; do
      pin=$(sed -n "s#^[[:space:]]*$m \(v[^ ]*\).*#\1#p" "$gomod" | head -n1)
      [[ -n "$pin" ]] || { log "no required version of $m in consul $v's go.mod"; exit 1; }
      echo "replace $m => $m $pin"
    done
} >go.mod
rm -f go.sum
log "building consul $CONSUL_VERSION from github.com/hashicorp/consul (first time: a few minutes)"
GOFLAGS=-mod=mod go get "github.com/hashicorp/consul@$v" >&2
CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -o "$BIN_DIR/consul.tmp" \
  -ldflags "-s -w -X github.com/hashicorp/consul/version.GitCommit=module-$v" \
  github.com/hashicorp/consul >&2
mv "$BIN_DIR/consul.tmp" "$BIN_DIR/consul"
log "cached in $BIN_DIR"
echo "$BIN_DIR"
