#!/usr/bin/env bash
# The demo: two local clusters (built once), the sample estate seeded into A,
# abshift planning, applying and verifying its migration to B, an etcd store
# replicated A→B, and the live and pre-live load balancers (in moto) switched
# to B, rolled back and switched again. Exits non-zero if any step fails.
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
line='"wave \(.wave)  \(.action)  \(.kind) \(.namespace // "-")/\(.name)"'
jq -r "[.objects[] | $line] | .[:8][]" plans/demo-plan.json
echo "..."
jq -r "[.objects[] | $line] | .[-3:][]" plans/demo-plan.json
step "abshift migrate apply plans/demo-plan.json --dry-run (server-side dry run against paas-b)"
"$ABSHIFT" migrate apply plans/demo-plan.json --dry-run --yes
step "abshift migrate apply plans/demo-plan.json --yes"
rm -f plans/demo-plan.json.journal
"$ABSHIFT" migrate apply plans/demo-plan.json --yes
step "abshift migrate verify plans/demo-plan.json"
"$ABSHIFT" migrate verify plans/demo-plan.json
step "Applying the same plan again: the journal says everything is done, zero writes"
"$ABSHIFT" migrate apply plans/demo-plan.json --yes

step "Stateful store: abshift sync etcd from A's store to B's (two local etcd servers)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ETCD_DIR=$ABSHIFT_TESTENV/etcd-demo
export ETCD_A_PORT=$(free_port) ETCD_B_PORT=$(free_port)
bash scripts/etcd.sh down "$ETCD_DIR" >/dev/null 2>&1 || true
bash scripts/etcd.sh up "$ETCD_DIR"
trap 'bash scripts/etcd.sh down "$ETCD_DIR" >/dev/null 2>&1 || true; echo "clusters left running for inspection: KUBECONFIG=$KUBECONFIG; stop with scripts/testenv.sh down" >&2' EXIT
EA=http://127.0.0.1:$ETCD_A_PORT; EB=http://127.0.0.1:$ETCD_B_PORT
ectl() { ETCDCTL_API=3 etcdctl --endpoints "$EA" "$@" >/dev/null; }
ectl put app/feature/dark-mode on; ectl put app/feature/checkout v2; ectl put app/db/pool-size 20
ETCDCTL_API=3 etcdctl --endpoints "$EB" put app/stale-only-in-b x >/dev/null
"$ABSHIFT" sync etcd --from "$EA" --to "$EB" --prefix app --dry-run
"$ABSHIFT" sync etcd --from "$EA" --to "$EB" --prefix app --follow --checkpoint "$ETCD_DIR/app.checkpoint" &
SYNC_PID=$!
step "Changes in A while sync follows: a put and a delete"
ectl put app/feature/beta off; ectl del app/feature/dark-mode
deadline=$((SECONDS + 30))
until "$ABSHIFT" -q sync verify etcd --from "$EA" --to "$EB" --prefix app >/dev/null 2>&1; do
  (( SECONDS < deadline )) || { echo "B did not converge with A within 30s" >&2; exit 1; }
  sleep 0.2
done
"$ABSHIFT" sync verify etcd --from "$EA" --to "$EB" --prefix app
kill -TERM "$SYNC_PID"; wait "$SYNC_PID"

step "Load balancers: moto (the AWS API, on loopback) with A's and B's tagged ingress instances"
MOTO_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# moto serves until its stdin closes: this shell holds the pipe, so it stops with the demo.
exec {moto_fd}> >(exec bash scripts/moto.sh "$MOTO_PORT" 2>"$ABSHIFT_TESTENV/moto.log")
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
export AWS_ENDPOINT_URL=http://127.0.0.1:$MOTO_PORT
deadline=$((SECONDS + 60))
until curl -sf "$AWS_ENDPOINT_URL/moto-api/" >/dev/null; do
  (( SECONDS < deadline )) || { echo "moto did not start (see $ABSHIFT_TESTENV/moto.log)" >&2; exit 1; }
  sleep 0.2
done
TF=$ABSHIFT_TESTENV/shell-outputs.json
python3 scripts/moto-elb-fixture.py --endpoint "$AWS_ENDPOINT_URL" --tf-output "$TF"
"$ABSHIFT" elb status --tf-output "$TF"

step "abshift elb switch --lb pre-live --to b --dry-run"
"$ABSHIFT" elb switch --lb pre-live --tf-output "$TF" --to b --dry-run
step "abshift elb switch --lb pre-live --to b"
"$ABSHIFT" elb switch --lb pre-live --tf-output "$TF" --to b --poll-interval 1s
step "Smoke check through pre-live: B's instances are its healthy members"
"$ABSHIFT" elb status --lb pre-live --tf-output "$TF"
step "abshift elb switch --lb live --to b --from a"
"$ABSHIFT" elb switch --lb live --tf-output "$TF" --to b --from a --poll-interval 1s
"$ABSHIFT" elb status --tf-output "$TF"
step "abshift elb rollback --lb live, then switch live to b again"
"$ABSHIFT" elb rollback --lb live --tf-output "$TF" --poll-interval 1s
"$ABSHIFT" elb switch --lb live --tf-output "$TF" --to b --from a --poll-interval 1s
"$ABSHIFT" elb status --tf-output "$TF"
exec {moto_fd}>&-

step "Demo complete"
