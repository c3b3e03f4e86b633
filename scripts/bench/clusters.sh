# Sourced by the scripts/bench-*.sh benchmarks: the abshift binary to measure,
# the raw client, and a fresh pair of test clusters under target/NAME.
#   bench_clusters NAME   sets ABSHIFT, ABSHIFT_TESTENV and KUBECONFIG
#   bench_rawbench        builds crates/kube/examples/rawbench.rs, sets RAW
#   bench_compact CTX     compacts and defragments CTX's etcd, so every
#                         contender meets the same store (B's etcd grew from 30
#                         to 364 MB over ten copies and deletions, and a raw
#                         copy at 32 in flight fell from 2,093 to 1,322/s;
#                         1,756/s after one defragmentation)
# ABSHIFT_BIN measures another build (e.g. an older commit's) on the same script;
# ABSHIFT_A_VERSION / ABSHIFT_B_VERSION pick the clusters' Kubernetes versions.
bench_clusters() {
  export ABSHIFT_TESTENV=$PWD/target/$1
  bash scripts/install-deps.sh
  if [[ -n "${ABSHIFT_BIN:-}" ]]; then
    ABSHIFT=$ABSHIFT_BIN
  else
    cargo build --release --locked --quiet
    ABSHIFT=$PWD/target/release/abshift
  fi
  echo "abshift: $ABSHIFT; A ${ABSHIFT_A_VERSION:-1.20.2}, B ${ABSHIFT_B_VERSION:-1.20.2}" >&2
  bash scripts/testenv.sh down >/dev/null 2>&1 || true
  ABSHIFT_TESTENV_OWNER_PID=$$ bash scripts/testenv.sh up
  export KUBECONFIG=$ABSHIFT_TESTENV/kubeconfig
}

bench_rawbench() {
  cargo build --release --locked --quiet --example rawbench -p abshift-kube
  RAW=$PWD/target/release/examples/rawbench
}

bench_compact() {
  local port rev
  port=$(cat "$ABSHIFT_TESTENV/$1/etcd.port")
  rev=$(ETCDCTL_API=3 etcdctl --endpoints "http://127.0.0.1:$port" endpoint status -w json |
    python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["Status"]["header"]["revision"])')
  ETCDCTL_API=3 etcdctl --endpoints "http://127.0.0.1:$port" compact "$rev" >/dev/null
  ETCDCTL_API=3 etcdctl --endpoints "http://127.0.0.1:$port" defrag >/dev/null
}
