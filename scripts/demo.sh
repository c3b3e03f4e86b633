#!/usr/bin/env bash
# The demo, the runbook (docs/runbook.md) in miniature: two local clusters
# (built once), A at an old Kubernetes (1.20.2) holding the sample estate and
# the old-API estate, B at a current one (1.34.4): the upgrade abshift exists
# for (ABSHIFT_A_VERSION / ABSHIFT_B_VERSION pick others); plan → report → apply → verify →
# sync (local etcd and Consul) → pre-live switch behind a smoke gate → a failing gate →
# live switch → hand-over of CronJobs and singletons → rollback →
# switch again (load balancers in moto). Exits non-zero if any step fails.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n\033[1m==> %s\033[0m\n' "$*" >&2; }

step "Installing prerequisites (once per machine)"
bash scripts/install-deps.sh
step "Building abshift"
cargo build --locked --quiet
ABSHIFT=$PWD/target/debug/abshift

export ABSHIFT_TESTENV=$PWD/.testenv
export ABSHIFT_A_VERSION=${ABSHIFT_A_VERSION:-1.20.2} ABSHIFT_B_VERSION=${ABSHIFT_B_VERSION:-1.34.4}
step "Starting two control planes on loopback: paas-a (source, Kubernetes $ABSHIFT_A_VERSION) and paas-b (target, $ABSHIFT_B_VERSION); the first run builds them (15-20 minutes)"
bash scripts/testenv.sh down >/dev/null 2>&1 || true
bash scripts/testenv.sh up
export KUBECONFIG=$ABSHIFT_TESTENV/kubeconfig
trap 'echo "clusters left running for inspection: KUBECONFIG=$KUBECONFIG; stop with scripts/testenv.sh down" >&2' EXIT

step "Seeding the sample estate (tests/fixtures/estate) and the old-API estate (tests/fixtures/estate-old-api) into paas-a"
bash scripts/seed-estate.sh paas-a
bash scripts/seed-estate.sh paas-a tests/fixtures/estate-old-api

N=0
step() { N=$((N + 1)); printf '\n\033[1m==> [%d] %s\033[0m\n' "$N" "$*" >&2; }

step "Plan the migration and write a report for review (runbook step 2)"
mkdir -p plans
"$ABSHIFT" migrate plan --from paas-a --to paas-b -o plans/demo-plan.json --report plans/demo-report.html
echo "report for reviewers: plans/demo-report.html (one self-contained file; open it in a browser)"
step "What crosses removed API versions: objects converted for B, by rule"
jq -r '.objects[] | select(.conversions) | "\(.kind) \(.namespace // "-")/\(.name): \(.readAs // .apiVersion) -> \(.apiVersion) by \(.conversions | join(", "))"' plans/demo-plan.json
step "Review the preflight findings (abshift report --format md)"
"$ABSHIFT" report plans/demo-plan.json --format md -o plans/demo-report.md
grep -E '^- \*\*' plans/demo-report.md | sed -E 's/\*\*//g; s/\\(.)/\1/g; s/  $//'
echo "(why and what to do for each, waves, objects, skipped: plans/demo-report.md, plans/demo-report.html)"

step "Server-side dry run against paas-b, outcome per object added to a report (runbook step 3)"
"$ABSHIFT" migrate apply plans/demo-plan.json --dry-run --yes --report plans/demo-dry-run.html
step "Apply the plan to paas-b, CronJobs and singletons stopped until the live switch (runbook step 3b)"
"$ABSHIFT" migrate apply plans/demo-plan.json --yes --suspend-cronjobs --suspend-singletons
step "Verify: B holds every planned object (runbook step 4)"
"$ABSHIFT" migrate verify plans/demo-plan.json
step "Apply the same plan again: the journal says everything is done, zero writes"
"$ABSHIFT" migrate apply plans/demo-plan.json --yes

step "Start replicating the stateful store A -> B (runbook step 5; two local etcd servers)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ETCD_DIR=$ABSHIFT_TESTENV/etcd-demo
export ETCD_A_PORT=$(free_port) ETCD_B_PORT=$(free_port)
bash scripts/etcd.sh down "$ETCD_DIR" >/dev/null 2>&1 || true
bash scripts/etcd.sh up "$ETCD_DIR"
SYNC_PID=
CONSUL_SYNC_PID=
cleanup() {
  [[ -n "$SYNC_PID" ]] && kill -TERM "$SYNC_PID" 2>/dev/null || true
  [[ -n "$CONSUL_SYNC_PID" ]] && kill -TERM "$CONSUL_SYNC_PID" 2>/dev/null || true
  bash scripts/etcd.sh down "$ETCD_DIR" >/dev/null 2>&1 || true
  [[ -n "${CONSUL_DIR:-}" ]] && bash scripts/consul.sh down "$CONSUL_DIR" >/dev/null 2>&1 || true
  echo "clusters left running for inspection: KUBECONFIG=$KUBECONFIG; stop with scripts/testenv.sh down" >&2
}
trap cleanup EXIT
EA=http://127.0.0.1:$ETCD_A_PORT; EB=http://127.0.0.1:$ETCD_B_PORT
ectl() { ETCDCTL_API=3 etcdctl --endpoints "$EA" "$@" >/dev/null; }
ectl put app/feature/dark-mode on; ectl put app/feature/checkout v2; ectl put app/db/pool-size 20
ETCDCTL_API=3 etcdctl --endpoints "$EB" put app/stale-only-in-b x >/dev/null
"$ABSHIFT" sync etcd --from "$EA" --to "$EB" --prefix app --dry-run
"$ABSHIFT" sync etcd --from "$EA" --to "$EB" --prefix app --follow --checkpoint "$ETCD_DIR/app.checkpoint" &
SYNC_PID=$!
converged() {
  local deadline=$((SECONDS + 30))
  until "$ABSHIFT" -q sync verify etcd --from "$EA" --to "$EB" --prefix app >/dev/null 2>&1; do
    (( SECONDS < deadline )) || { echo "B did not converge with A within 30s" >&2; return 1; }
    sleep 0.2
  done
}
converged
"$ABSHIFT" sync verify etcd --from "$EA" --to "$EB" --prefix app

step "Replicate Consul KV A -> B too (runbook step 5; two real Consul servers, dc-a and dc-b, built once)"
CONSUL_DIR=$ABSHIFT_TESTENV/consul-demo
export CONSUL_A_PORT=$(free_port) CONSUL_B_PORT=$(free_port)
bash scripts/consul.sh down "$CONSUL_DIR" >/dev/null 2>&1 || true
bash scripts/consul.sh up "$CONSUL_DIR"
CA=http://127.0.0.1:$CONSUL_A_PORT; CB=http://127.0.0.1:$CONSUL_B_PORT
cput() { curl -sf -X PUT --data-binary "$3" "$1/v1/kv/$2" >/dev/null; }
cdel() { curl -sf -X DELETE "$1/v1/kv/$2" >/dev/null; }
cput "$CA" config/shop/checkout v2; cput "$CA" config/shop/timeout-ms 800; cput "$CA" config/search/replicas 3
cput "$CB" config/stale-only-in-b x
"$ABSHIFT" sync consul --from "$CA" --to "$CB" --prefix config/ --dry-run
"$ABSHIFT" sync consul --from "$CA" --to "$CB" --prefix config/ --follow --checkpoint "$CONSUL_DIR/config.checkpoint" &
CONSUL_SYNC_PID=$!
consul_converged() {
  local deadline=$((SECONDS + 30))
  until "$ABSHIFT" -q sync verify consul --from "$CA" --to "$CB" --prefix config/ >/dev/null 2>&1; do
    (( SECONDS < deadline )) || { echo "Consul B did not converge with A within 30s" >&2; return 1; }
    sleep 0.2
  done
}
consul_converged
"$ABSHIFT" sync verify consul --from "$CA" --to "$CB" --prefix config/

step "Load balancers: moto (the AWS API, on loopback) with A's and B's tagged ingress instances"
MOTO_PORT=$(free_port)
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

# The smoke check the gates run: B's members registered beside A's and all
# healthy (locally the stand-in for an HTTP check of the application through
# the load balancer, whose DNS name the check gets as $ABSHIFT_LB_DNS).
SMOKE='abshift elb status --lb "$ABSHIFT_LB_ROLE" --tf-output '"$TF"' -o json | jq -e ".load_balancers[0] | (.serving | index(\"b\")) != null and .healthy == (.members | length)" >/dev/null && echo "smoke: $ABSHIFT_LB_NAME serves $ABSHIFT_TO_CLUSTER, every member healthy"'
export PATH="$(dirname "$ABSHIFT"):$PATH"
step "Switch pre-live to B behind the smoke gate (runbook steps 6-7): dry run, then for real"
"$ABSHIFT" elb switch --lb pre-live --tf-output "$TF" --to b --dry-run --smoke-cmd "$SMOKE"
"$ABSHIFT" elb switch --lb pre-live --tf-output "$TF" --to b --poll-interval 1s --smoke-cmd "$SMOKE"
"$ABSHIFT" elb status --lb pre-live --tf-output "$TF"
step "Writes in A while traffic moves: sync carries them to B (etcd and Consul)"
ectl put app/feature/beta off; ectl del app/feature/dark-mode
converged
"$ABSHIFT" sync verify etcd --from "$EA" --to "$EB" --prefix app
cput "$CA" config/shop/timeout-ms 1200; cdel "$CA" config/search/replicas
consul_converged
"$ABSHIFT" sync verify consul --from "$CA" --to "$CB" --prefix config/
step "A failing smoke check on live: A never leaves, B is rolled back, the command fails"
if "$ABSHIFT" elb switch --lb live --tf-output "$TF" --to b --from a --poll-interval 1s \
    --smoke-cmd 'echo "GET /checkout through $ABSHIFT_LB_DNS: 500"; exit 7'; then
  echo "the failing smoke check did not stop the switch" >&2; exit 1
fi
"$ABSHIFT" elb status --lb live --tf-output "$TF"
# (--wait-burn-down is left out here: with no traffic, CloudWatch's ELB metrics
# publish nothing, so a minute counts as idle only 3 minutes after it ended.)
step "Switch live to B behind the smoke gate (runbook step 8)"
"$ABSHIFT" elb switch --lb live --tf-output "$TF" --to b --from a --poll-interval 1s \
  --smoke-cmd "$SMOKE"
"$ABSHIFT" elb status --tf-output "$TF"
step "Hand the CronJobs and singletons over: stop them in A, start them in B (runbook step 8)"
"$ABSHIFT" cutover suspend --context paas-a --plan plans/demo-plan.json --dry-run
"$ABSHIFT" cutover suspend --context paas-a --plan plans/demo-plan.json
"$ABSHIFT" cutover resume --context paas-b
"$ABSHIFT" migrate verify plans/demo-plan.json
step "Roll live back to A, then switch it to B again (the rollback path)"
"$ABSHIFT" elb rollback --lb live --tf-output "$TF" --poll-interval 1s
"$ABSHIFT" elb switch --lb live --tf-output "$TF" --to b --from a --poll-interval 1s
"$ABSHIFT" elb status --tf-output "$TF"
exec {moto_fd}>&-

step "Stop sync after a last verify (runbook step 10)"
"$ABSHIFT" sync verify etcd --from "$EA" --to "$EB" --prefix app
kill -TERM "$SYNC_PID"; wait "$SYNC_PID"; SYNC_PID=
"$ABSHIFT" sync verify consul --from "$CA" --to "$CB" --prefix config/
kill -TERM "$CONSUL_SYNC_PID"; wait "$CONSUL_SYNC_PID"; CONSUL_SYNC_PID=

step "Demo complete: plan, report, apply, verify, sync (etcd and Consul), pre-live behind a smoke gate, a failed smoke gate, live, hand-over, rollback, live again"
