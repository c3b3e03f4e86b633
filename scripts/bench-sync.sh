#!/usr/bin/env bash
# Sync benchmark: initial copy of BENCH_KEYS (default 100,000) keys etcd→etcd by abshift
# and by `etcdctl make-mirror` in the same run, then follow lag p50/p99 under a steady
# write load. Starts two loopback etcd servers (scripts/etcd.sh) and stops them on exit.
# BENCH_PROFILE=dev (default: the profile the published numbers used) or release.
# Results: a markdown table on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=${BENCH_PROFILE:-dev}
dir=$(mktemp -d)
export ETCD_A_PORT=${ETCD_A_PORT:-23890} ETCD_B_PORT=${ETCD_B_PORT:-23891}
cleanup() { scripts/etcd.sh down "$dir"; rm -rf "$dir"; }
trap cleanup EXIT

command -v etcdctl >/dev/null || { echo "etcdctl not found: apt-get install -y etcd-client" >&2; exit 1; }
flag=(); [ "$profile" = release ] && flag=(--release)
cargo test "${flag[@]}" --test sync_bench --no-run >&2
scripts/etcd.sh up "$dir" >&2
echo "Machine: $(nproc) cores, load average at start $(cut -d' ' -f1-3 /proc/loadavg); etcd $(etcd --version | head -1 | awk '{print $3}') (Debian), abshift $profile profile, ${BENCH_KEYS:-100000} keys of ${BENCH_VALUE_BYTES:-100} bytes."
echo
BENCH_ETCD_A="http://127.0.0.1:$ETCD_A_PORT" BENCH_ETCD_B="http://127.0.0.1:$ETCD_B_PORT" \
  cargo test "${flag[@]}" --test sync_bench -- --ignored --nocapture --test-threads 1 2>&1 \
  | sed -n '/^RESULT$/,/^END$/p' | sed '1d;$d'
echo
echo "Load average at end: $(cut -d' ' -f1-3 /proc/loadavg)."
