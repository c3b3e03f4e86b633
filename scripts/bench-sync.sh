#!/usr/bin/env bash
# Sync benchmark, in two parts (BENCH_STORE=etcd, consul, or all: the default, both in turn):
# - etcd: initial copy of BENCH_KEYS (default 100,000) keys etcd→etcd by abshift and by
#   `etcdctl make-mirror` in the same run, then follow lag p50/p99 under a steady write
#   load. Starts two loopback etcd servers (scripts/etcd.sh) and stops them on exit.
# - consul: the same keys copied between two real Consul datacenters (scripts/consul.sh,
#   WAN-joined, Consul built by scripts/build-consul.sh) by abshift and by consul-replicate
#   (BENCH_CONSUL_REPLICATE=PATH to a binary, else built by scripts/build-consul-replicate.sh
#   from the Go module proxy; BENCH_SKIP_REPLICATE=1 measures abshift alone), then the follow
#   lag of both under BENCH_CONSUL_LAG_RATE (default 200) writes/s.
# BENCH_PROFILE=dev (default: the profile the published numbers used) or release.
# Results: markdown tables on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=${BENCH_PROFILE:-dev}
store=${BENCH_STORE:-all}
case "$store" in etcd|consul|all) ;; *) echo "BENCH_STORE must be etcd, consul or all" >&2; exit 2 ;; esac
etcd_dir=$(mktemp -d)
consul_dir=$(mktemp -d)
export ETCD_A_PORT=${ETCD_A_PORT:-23890} ETCD_B_PORT=${ETCD_B_PORT:-23891}
export CONSUL_A_PORT=${CONSUL_A_PORT:-28710} CONSUL_B_PORT=${CONSUL_B_PORT:-28810}
cleanup() {
  scripts/etcd.sh down "$etcd_dir" || true
  scripts/consul.sh down "$consul_dir" || true
  rm -rf "$etcd_dir" "$consul_dir"
}
trap cleanup EXIT

flag=(); [ "$profile" = release ] && flag=(--release)
if [ "$store" != consul ]; then
  command -v etcdctl >/dev/null || { echo "etcdctl not found: apt-get install -y etcd-client" >&2; exit 1; }
fi
if [ "$store" != etcd ]; then
  consul_bin="$(bash scripts/build-consul.sh)/consul"
  if [ -z "${BENCH_SKIP_REPLICATE:-}" ] && [ -z "${BENCH_CONSUL_REPLICATE:-}" ]; then
    cr_dir=$(bash scripts/build-consul-replicate.sh) ||
      { echo "consul-replicate could not be built (see above): BENCH_CONSUL_REPLICATE=PATH names a binary, BENCH_SKIP_REPLICATE=1 measures abshift alone" >&2; exit 1; }
    export BENCH_CONSUL_REPLICATE="$cr_dir/consul-replicate"
  fi
fi
cargo test "${flag[@]}" --test sync_bench --no-run >&2

run_bench() { # test name
  cargo test "${flag[@]}" --test sync_bench -- --ignored --exact "$1" --nocapture --test-threads 1 2>&1 \
    | tee -a "${BENCH_LOG:-/dev/null}" | sed -n '/^RESULT$/,/^END$/p' | sed '1d;$d'
}

if [ "$store" != consul ]; then
  scripts/etcd.sh up "$etcd_dir" >&2
  echo "## etcd"
  echo
  echo "Machine: $(nproc) cores, load average at start $(cut -d' ' -f1-3 /proc/loadavg); etcd $(etcd --version | head -1 | awk '{print $3}') (Debian), abshift $profile profile, ${BENCH_KEYS:-100000} keys of ${BENCH_VALUE_BYTES:-100} bytes."
  echo
  BENCH_ETCD_A="http://127.0.0.1:$ETCD_A_PORT" BENCH_ETCD_B="http://127.0.0.1:$ETCD_B_PORT" run_bench bench_sync_etcd
  echo
  echo "Load average at end: $(cut -d' ' -f1-3 /proc/loadavg)."
  scripts/etcd.sh down "$etcd_dir" >&2
  echo
fi

if [ "$store" != etcd ]; then
  # consul-replicate reads the source datacenter through the destination's agent: WAN-join them.
  WAN=1 scripts/consul.sh up "$consul_dir" >&2
  cr_v=skipped; [ -n "${BENCH_CONSUL_REPLICATE:-}" ] && cr_v=$("$BENCH_CONSUL_REPLICATE" -v 2>&1 | head -1)
  echo "## Consul"
  echo
  echo "Machine: $(nproc) cores, load average at start $(cut -d' ' -f1-3 /proc/loadavg); $("$consul_bin" version | head -1) (built from the Go module), datacenters dc-a (A, :$CONSUL_A_PORT) and dc-b (B, :$CONSUL_B_PORT) WAN-joined; $cr_v; abshift $profile profile, ${BENCH_KEYS:-100000} keys of ${BENCH_VALUE_BYTES:-100} bytes."
  echo
  BENCH_CONSUL_A="http://127.0.0.1:$CONSUL_A_PORT" BENCH_CONSUL_B="http://127.0.0.1:$CONSUL_B_PORT" \
    BENCH_CONSUL_A_DC=dc-a BENCH_CONSUL_B_DC=dc-b run_bench bench_sync_consul
  echo
  echo "Load average at end: $(cut -d' ' -f1-3 /proc/loadavg)."
fi
