#!/usr/bin/env bash
# Benchmark of `abshift migrate apply`, in one run on the same clusters:
#   (a) raw baseline: the same ConfigMaps and Secrets created in B with plain
#       concurrent POSTs at the same concurrency (the API server's limit)
#   (b) abshift migrate apply (release build), whole plan, pinned at --concurrency 16
#       like (a) (scripts/bench-throughput.sh measures the default, adaptive level)
#   (c) kubectl get -o json | jq (strip generated fields) | kubectl apply -f -
# Each writes into its own copy of the namespaces in B (raw-*, bench-*, kctl-*).
#   scripts/bench-apply.sh [OBJECTS (default 5000)] [NAMESPACES (default 50)]
#   env: ABSHIFT_BIN (binary to measure), ABSHIFT_A_VERSION, ABSHIFT_B_VERSION
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-5000}; NSS=${2:-50}; CONC=16
source scripts/bench/clusters.sh
bench_clusters bench-apply
python3 scripts/bench/k8s_load.py create "$KUBECONFIG" paas-a "$N" "$NSS"
nslist=$(kubectl --context paas-a get ns -o name | sed 's|namespace/||' | grep '^bench-' | paste -sd, -)

raw=$(python3 scripts/bench/k8s_load.py rawcopy "$KUBECONFIG" paas-a paas-b raw "$CONC")
rawssa=$(python3 scripts/bench/k8s_load.py rawcopy "$KUBECONFIG" paas-a paas-b rawssa "$CONC" apply)

"$ABSHIFT" -q migrate plan --from paas-a --to paas-b -n "$nslist" -o "$ABSHIFT_TESTENV/plan.json"
objects=$(jq '.summary.objects' "$ABSHIFT_TESTENV/plan.json")
/usr/bin/time -f "%e %M" -o "$ABSHIFT_TESTENV/time.out" "$ABSHIFT" -v migrate apply "$ABSHIFT_TESTENV/plan.json" --yes --concurrency "$CONC" -o json >"$ABSHIFT_TESTENV/apply.json" 2>"$ABSHIFT_TESTENV/apply.log"
read -r asecs akb <"$ABSHIFT_TESTENV/time.out"
writes=$(jq .writes "$ABSHIFT_TESTENV/apply.json"); retries=$(jq .retries "$ABSHIFT_TESTENV/apply.json")

for ns in ${nslist//,/ }; do kubectl --context paas-b create namespace "kctl-${ns#bench-}" >/dev/null; done
kubectl_pipeline() {
  kubectl --context paas-a get configmaps,secrets -A -o json \
    | jq '.items |= map(select((.metadata.namespace | startswith("bench-")) and .type != "kubernetes.io/service-account-token" and .metadata.name != "kube-root-ca.crt")
                      | .metadata.namespace |= sub("^bench-"; "kctl-")
                      | del(.metadata.uid, .metadata.resourceVersion, .metadata.creationTimestamp,
                            .metadata.managedFields, .metadata.selfLink, .status))' \
    | kubectl --context paas-b apply -f - >/dev/null
}
export -f kubectl_pipeline
/usr/bin/time -f "%e" -o "$ABSHIFT_TESTENV/time.out" bash -c kubectl_pipeline
ksecs=$(cat "$ABSHIFT_TESTENV/time.out")
kobjs=$(kubectl --context paas-b get configmaps,secrets -A --no-headers | grep -c '^kctl-' || true)

rsecs=$(jq -r .seconds <<<"$raw"); robjs=$(jq -r .objects <<<"$raw")
python3 - "$rsecs" "$robjs" "$asecs" "$objects" "$ksecs" "$kobjs" "$writes" "$retries" "$((akb / 1024))" "$(jq -r .seconds <<<"$rawssa")" <<'PY'
import sys
rs, ro, a_s, ao, ks, ko, writes, retries, rss, ss = sys.argv[1:]
ss = float(ss)
rs, ro, a_s, ao, ks, ko = float(rs), int(ro), float(a_s), int(ao), float(ks), int(ko)
r, a, k = ro / rs, ao / a_s, ko / ks
print("| what | objects | wall time (s) | objects/s | notes |")
print("|---|---:|---:|---:|---|")
print(f"| (a) raw concurrent POSTs (16 in flight) | {ro} | {rs:.2f} | {r:.0f} | namespaces created beforehand, untimed |")
print(f"| (a') raw server-side-apply PATCHes (16 in flight) | {ro} | {ss:.2f} | {int(ro) / ss:.0f} | what (a) costs when written the way abshift writes |")
print(f"| (b) abshift migrate apply (release, --concurrency 16) | {ao} | {a_s:.2f} | {a:.0f} | whole process: fingerprints, waves, namespaces, journal; {writes} writes, {retries} retries, peak RSS {rss} MB |")
print(f"| (c) kubectl get \\| jq \\| kubectl apply | {ko} | {ks:.2f} | {k:.0f} | one client-side apply of the whole list |")
print()
print(f"abshift / raw POST = {a / r:.0%}; abshift / raw SSA = {a / (int(ro) / ss):.0%}; abshift / kubectl = {a / k:.1f}x")
PY
echo
echo "abshift's own timings (-v): $(jq -r '"\(.seconds | . * 100 | round / 100) s inside apply, \(.counts | tojson)"' "$ABSHIFT_TESTENV/apply.json")"
grep -E 'clusters checked|wave applied' "$ABSHIFT_TESTENV/apply.log" | sed 's/^/  /' || true
bash scripts/testenv.sh down >/dev/null 2>&1 || true
