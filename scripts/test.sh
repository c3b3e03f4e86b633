#!/usr/bin/env bash
# Runs every test of abshift on a fresh machine: installs what is missing,
# builds the test control planes once (cached), then `cargo test`. Integration
# tests start their own clusters on loopback and stop them when they finish.
set -euo pipefail
cd "$(dirname "$0")/.."
# The newest Kubernetes the integration tests run a cluster at (the upgrade
# pairs of tests/upgrade_e2e.rs); keep in step with NEW_K8S in tests/support/mod.rs.
NEW_K8S=1.34.4
bash scripts/install-deps.sh
bash scripts/build-k8s.sh >/dev/null
K8S_VERSION=$NEW_K8S bash scripts/build-k8s.sh >/dev/null
bash scripts/build-etcd.sh >/dev/null
bash scripts/build-consul.sh >/dev/null
cargo test --locked --workspace --all-targets --no-fail-fast "$@"
# The etcd sync tests again on etcd 3.5 (Debian's is 3.4): progress notifications
# and compaction differ, and the checkpoint logic depends on them.
if [[ $# -eq 0 ]]; then
  ABSHIFT_TEST_ETCD_VERSION=3.5.35 cargo test --locked --test sync_etcd
fi
