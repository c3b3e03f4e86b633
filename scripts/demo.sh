#!/usr/bin/env bash
# The demo: two local clusters (built once), the sample estate seeded into A,
# and abshift planning its migration to B. Exits non-zero if any step fails.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n\033[1m==> %s\033[0m\n' "$*" >&2; }

step "Installing prerequisites (once per machine)"
bash scripts/install-deps.sh
step "Building abshift"
cargo build --locked --quiet
ABSHIFT=$PWD/target/debug/abshift

export ABSHIFT_TESTENV=$PWD/.testenv
step "Starting two control planes on loopback: paas-a (source) and paas-b (target)"
bash scripts/testenv.sh down >/dev/null 2>&1 || true
bash scripts/testenv.sh up
export KUBECONFIG=$ABSHIFT_TESTENV/kubeconfig
trap 'echo "clusters left running for inspection: KUBECONFIG=$KUBECONFIG; stop with scripts/testenv.sh down" >&2' EXIT

step "Seeding the sample estate (tests/fixtures/estate) into paas-a"
bash scripts/seed-estate.sh paas-a

step "abshift migrate plan --from paas-a --to paas-b -o plans/demo-plan.json"
mkdir -p plans
"$ABSHIFT" migrate plan --from paas-a --to paas-b -o plans/demo-plan.json

step "The plan, first objects of wave 0 and the last wave"
jq -r '.objects[] | "wave \(.wave)  \(.action)  \(.kind) \(.namespace // "-")/\(.name)"' plans/demo-plan.json | head -n 8
echo "..."
jq -r '.objects[] | "wave \(.wave)  \(.action)  \(.kind) \(.namespace // "-")/\(.name)"' plans/demo-plan.json | tail -n 3
step "Demo complete"
