#!/usr/bin/env bash
# Runs every test of abshift on a fresh machine: installs what is missing,
# builds the test control planes once (cached), then `cargo test`. Integration
# tests start their own clusters on loopback and stop them when they finish.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build-k8s.sh >/dev/null
cargo test --locked --workspace --all-targets --no-fail-fast "$@"
