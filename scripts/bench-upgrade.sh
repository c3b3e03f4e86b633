#!/usr/bin/env bash
# The upgrade baseline, in one run on the same clusters: A at an old Kubernetes
# (default 1.20.2) holding the sample estate plus the old-API estate
# (tests/fixtures/estate-old-api: v1beta1 CRDs without schema, CronJob, PDBs,
# HPA v2beta2, v1beta1 Ingress and webhook, a PSP), B at a current one
# (default 1.34.4), copied two ways into two fresh B's:
#   (a) kubectl get <every listable kind but events> -A -o json | jq (strip
#       generated fields) | kubectl apply -f -   — objects it fails on, by error
#   (b) abshift migrate plan + apply + verify   — objects it fails on
#   scripts/bench-upgrade.sh            env: ABSHIFT_A_VERSION, ABSHIFT_B_VERSION, ABSHIFT_BIN
set -euo pipefail
cd "$(dirname "$0")/.."
export ABSHIFT_A_VERSION=${ABSHIFT_A_VERSION:-1.20.2} ABSHIFT_B_VERSION=${ABSHIFT_B_VERSION:-1.34.4}
bash scripts/install-deps.sh
if [[ -n "${ABSHIFT_BIN:-}" ]]; then ABSHIFT=$ABSHIFT_BIN; else
  cargo build --release --locked --quiet; ABSHIFT=$PWD/target/release/abshift; fi
OUT=$PWD/target/bench-upgrade
mkdir -p "$OUT"

# One pair for kubectl, one for abshift: each B starts empty.
up() { ABSHIFT_TESTENV=$OUT/$1 ABSHIFT_TESTENV_OWNER_PID=$$ bash scripts/testenv.sh up; }
seed() {
  KUBECONFIG=$OUT/$1/kubeconfig bash scripts/seed-estate.sh paas-a
  KUBECONFIG=$OUT/$1/kubeconfig bash scripts/seed-estate.sh paas-a tests/fixtures/estate-old-api
}
for env in kubectl abshift; do up "$env"; seed "$env"; done

# (a) the pipeline a team would reach for.
export KUBECONFIG=$OUT/kubectl/kubeconfig
# Events are left out (the first Event without eventTime makes kubectl refuse the
# whole list client-side), so every other object is really tried against B.
kinds=$(kubectl --context paas-a api-resources --verbs=list,create -o name \
  | grep -vE '^events(\.events\.k8s\.io)?$' | paste -sd, -)
kubectl --context paas-a get "$kinds" -A -o json \
  | jq '.items |= map(select((.metadata.namespace // "") | test("^kube-") | not)
                    | del(.metadata.uid, .metadata.resourceVersion, .metadata.creationTimestamp,
                          .metadata.generation, .metadata.managedFields, .metadata.selfLink,
                          .metadata.ownerReferences, .status))' >"$OUT/a-export.json"
listed=$(jq '.items | length' "$OUT/a-export.json")
set +e
kubectl --context paas-b apply -f "$OUT/a-export.json" >"$OUT/kubectl-apply.out" 2>"$OUT/kubectl-apply.err"
set -e
# kubectl prints a line per object it applied; every other object of the list
# failed (one error line each, or one line naming several unknown kinds).
kok=$(grep -cE ' (created|configured|unchanged|serverside-applied)$' "$OUT/kubectl-apply.out" || true)
kfail=$((listed - kok))

# (b) abshift.
export KUBECONFIG=$OUT/abshift/kubeconfig
"$ABSHIFT" -q migrate plan --from paas-a --to paas-b -o "$OUT/plan.json" --report "$OUT/plan.md"
set +e
"$ABSHIFT" -q migrate apply "$OUT/plan.json" --yes -o json >"$OUT/apply.json"; arc=$?
"$ABSHIFT" -q migrate verify "$OUT/plan.json" >"$OUT/verify.out" 2>&1; vrc=$?
set -e
planned=$(jq '.summary.objects' "$OUT/plan.json")
converted=$(jq '[.objects[] | select((.conversions // []) | length > 0)] | length' "$OUT/plan.json")
afail=$(jq '[.counts.failed // 0, .counts.blocked // 0] | add' "$OUT/apply.json")
removed=$(jq '[.skipped[] | select(.rule | test("removed"))] | length' "$OUT/plan.json")
errors=$(jq '[.findings[] | select(.severity == "error")] | length' "$OUT/plan.json")

cat <<REPORT
A: Kubernetes $ABSHIFT_A_VERSION, B: Kubernetes $ABSHIFT_B_VERSION; sample estate + old-API estate

| what | objects sent | failed in B | notes |
|---|---:|---:|---|
| kubectl get -o json \| jq \| kubectl apply | $listed | $kfail | $kok applied (controller-owned Pods and ReplicaSets included); the rest refused by B, unknown to it, or sent before their namespace (errors below) |
| abshift migrate plan + apply (exit $arc) + verify (exit $vrc) | $planned | $afail | $converted converted by rule, $removed of removed kinds reported ($errors error findings) instead of sent |

kubectl's errors, by kind of failure:
$(sed -E 's/"[^"]*"/"…"/g' "$OUT/kubectl-apply.err" | cut -c1-150 | sort | uniq -c | sort -rn | head -15 | sed 's/^/    /')
REPORT
for env in kubectl abshift; do ABSHIFT_TESTENV=$OUT/$env bash scripts/testenv.sh down >/dev/null 2>&1 || true; done
