#!/usr/bin/env bash
# Builds consul-replicate (github.com/hashicorp/consul-replicate, MPL-2.0), the
# tool `abshift sync consul` is benchmarked against (scripts/bench-sync.sh; a
# test component only), and caches it under the user's cache dir, keyed by
# version and commit. Prints the directory holding the `consul-replicate` binary
# on stdout; logs go to stderr.
#
# The source comes from the Go module proxy, at the commit's pseudo-version. At the
# time of writing the public proxy answers 403 ("not available") for this module: the
# script then says so and stops, and scripts/bench-sync.sh takes a binary built by
# other means from BENCH_CONSUL_REPLICATE. The dependencies come from the proxy, and the build
# stops if the module or any dependency it links is not under an open-source licence
# (HashiCorp moved its products, not this tool, to the BUSL in 2023).
set -euo pipefail

# The newest commit on main (2025-03-26, Go 1.24, consul-template v0.40.0); the last
# tag, v0.4.0, is from 2017 and predates Go modules (no go.mod, a dep vendor tree).
# Its version.go still says 0.4.0.
CR_COMMIT="${CONSUL_REPLICATE_COMMIT:-0ed0ee3fae0967a3388c64a31a4d88c2e236a601}"
CR_PSEUDO="${CONSUL_REPLICATE_PSEUDO:-v0.4.1-0.20250326092035-0ed0ee3fae09}"
CR_VERSION="${CONSUL_REPLICATE_VERSION:-0.4.0-${CR_COMMIT:0:7}}"
CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/abshift"
BIN_DIR="$CACHE_ROOT/consul-replicate-$CR_VERSION/bin"
log() { echo "[build-consul-replicate] $*" >&2; }

if [[ -x "$BIN_DIR/consul-replicate" ]]; then echo "$BIN_DIR"; exit 0; fi
command -v go >/dev/null || { log "Go is required to build consul-replicate (the machine's Go)"; exit 1; }

WORK="$CACHE_ROOT/gomod-consul-replicate-$CR_VERSION"
SRC="$WORK/src"
rm -rf "$SRC"
mkdir -p "$SRC" "$BIN_DIR"

log "downloading github.com/hashicorp/consul-replicate@$CR_PSEUDO from the Go module proxy"
info=$(cd "$WORK" && GOFLAGS=-mod=mod go mod download -json "github.com/hashicorp/consul-replicate@$CR_PSEUDO" || true)
dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' <<<"$info")
if [[ -z "$dir" || ! -d "$dir" ]]; then
  log "the Go module proxy did not serve github.com/hashicorp/consul-replicate@$CR_PSEUDO:"
  sed -n 's/^[[:space:]]*"Error": "\(.*\)"$/\1/p' <<<"$info" >&2
  log "give scripts/bench-sync.sh a consul-replicate binary with BENCH_CONSUL_REPLICATE=PATH"
  exit 1
fi
cp -r "$dir"/. "$SRC"
chmod -R u+w "$SRC"

grep -q "Mozilla Public License" "$SRC/LICENSE" ||
  { log "consul-replicate at $CR_COMMIT is not under the MPL-2.0; not building it"; exit 1; }
[[ -f "$SRC/go.mod" ]] || { log "no go.mod at $CR_COMMIT (tags up to v0.4.0 predate Go modules)"; exit 1; }

cd "$SRC"
log "downloading dependencies (Go module proxy) and checking their licences"
# consul-template v0.40.0 requires github.com/hashicorp/vault/api/auth/kubernetes v0.5.0. Its
# one source file says `SPDX-License-Identifier: MPL-2.0`, but its directory had no LICENSE
# then, so the module zips of v0.5.0 and v0.6.0 carry the Vault repository's root LICENSE,
# the BUSL 1.1. v0.10.0 ships its own LICENSE, the MPL-2.0: use it (an upgrade, which also
# moves github.com/hashicorp/vault/api to v1.20.0, MPL-2.0), so that no module in the build
# comes with a non-open-source licence file.
GOFLAGS=-mod=mod go get github.com/hashicorp/vault/api/auth/kubernetes@v0.10.0 >&2
GOFLAGS=-mod=mod go mod download >&2
# Every module in the build list that the binary links: no BUSL or other source-available licence.
bad=0
while IFS=$'\t' read -r path dir; do
  [[ -n "$dir" && -d "$dir" ]] || continue
  mapfile -t lic < <(find "$dir" -maxdepth 1 -type f \( -iname 'LICEN[CS]E*' -o -iname 'COPYING*' -o -iname 'APLv2' -o -iname 'GPLv3' \))
  if [[ ${#lic[@]} = 0 ]]; then
    log "no licence file in $path"
    continue
  fi
  if grep -qiE 'Business Source License|BUSL|Server Side Public License|Elastic License|Commons Clause' "${lic[@]}"; then
    log "dependency $path is not under an open-source licence (${lic[*]}); not building consul-replicate"
    bad=1
  fi
done < <(GOFLAGS=-mod=mod go list -deps -f '{{with .Module}}{{.Path}}{{"\t"}}{{.Dir}}{{end}}' . | sort -u)
[[ $bad = 0 ]] || exit 1

log "building consul-replicate $CR_VERSION (first time: about a minute)"
CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -o "$BIN_DIR/consul-replicate.tmp" \
  -ldflags "-s -w -X github.com/hashicorp/consul-replicate/version.Name=consul-replicate -X github.com/hashicorp/consul-replicate/version.GitCommit=${CR_COMMIT:0:8}" \
  . >&2
mv "$BIN_DIR/consul-replicate.tmp" "$BIN_DIR/consul-replicate"
log "cached in $BIN_DIR"
echo "$BIN_DIR"
