#!/usr/bin/env bash
# Throughput without tuning (issue #17), all figures from one run on one pair
# of clusters (target/bench-throughput):
#   1. a raw client (crates/kube/examples/rawbench.rs) copies A's objects into
#      B with plain POSTs at 8, 16, 32 and 64 in flight (the same label,
#      annotations and field manager abshift writes), B emptied after each and
#      its etcd compacted and defragmented (bench_compact), as after abshift;
#   2. between the first two levels and the last two: migrate apply with
#      default flags (adaptive concurrency) of a plan made against the empty
#      B, peak RSS and where the time goes per wave; B emptied and compacted
#      after it too;
#      steps 1 and 2 are repeated REPEATS times (default 3) and medians are
#      compared: on this shared machine one copy at a fixed level ran
#      anywhere between 1,340 and 2,160 objects/s;
#   3. the re-plan: B filled once more, then abshift migrate plan again,
#      twice, with B holding every object, against the raw listing floor of
#      both clusters (the raw client listing exactly the resource types
#      abshift lists, bodies unparsed; its best of four runs, so abshift's
#      best of two is compared with it).
#   scripts/bench-throughput.sh [OBJECTS (default 50000)] [NAMESPACES (default 200)]
#   env: ABSHIFT_BIN (binary to measure), ABSHIFT_A_VERSION, ABSHIFT_B_VERSION,
#        RAW_LEVELS (default "8,16,32,64"), RAW_PAGE_SIZES (default "500,5000"),
#        REPEATS (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-50000}; NSS=${2:-200}
LEVELS=${RAW_LEVELS:-8,16,32,64}; PAGES=${RAW_PAGE_SIZES:-500,5000}; REPEATS=${REPEATS:-3}
source scripts/bench/clusters.sh
bench_rawbench
bench_clusters bench-throughput
trap 'bash scripts/testenv.sh down >/dev/null 2>&1 || true' EXIT
OUT=$ABSHIFT_TESTENV/results; mkdir -p "$OUT"
python3 scripts/bench/k8s_load.py create "$KUBECONFIG" paas-a "$N" "$NSS"

# measure LABEL CMD...: wall seconds and peak RSS (MB) of one process.
measure() {
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$OUT/$label.time" "$@" >"$OUT/$label.out" 2>"$OUT/$label.err"
  read -r secs kb <"$OUT/$label.time"
  echo "$secs $((kb / 1024))"
}

# 1. Raw POSTs, one level after another, each into an empty B (its copies
#    deleted before the next level, so every contender writes into the same B).
#    B slows down a little with every copy written and deleted, so abshift's
#    apply runs between the first half of the levels and the second.
: >"$OUT/raw.jsonl"
raw_level() {
  "$RAW" copy --kubeconfig "$KUBECONFIG" --from paas-a --to paas-b --prefix raw --concurrency "$1" | tee -a "$OUT/raw.jsonl" >&2
  "$RAW" clean --kubeconfig "$KUBECONFIG" --context paas-b --prefix "raw$1-" >&2
  bench_compact paas-b
}
read -ra levels <<<"${LEVELS//,/ }"
half=$(( (${#levels[@]} + 1) / 2 ))

# 2. abshift: one plan against the empty B, applied with default flags in
#    every round between the first half of the raw levels and the second (its
#    journal removed, and B emptied and compacted after each apply, so every
#    contender writes into the same empty B).
read -r psecs prss <<<"$(measure plan "$ABSHIFT" -v migrate plan --from paas-a --to paas-b -o "$OUT/plan.json")"
objects=$(jq '.summary.objects' "$OUT/plan.json")
: >"$OUT/applies.txt"
for round in $(seq "$REPEATS"); do
  for c in "${levels[@]:0:$half}"; do raw_level "$c"; done
  rm -f "$OUT/plan.json.journal"
  read -r asecs arss <<<"$(measure "apply$round" "$ABSHIFT" -v migrate apply "$OUT/plan.json" --yes -o json)"
  echo "$round $asecs $arss" >>"$OUT/applies.txt"
  "$RAW" clean --kubeconfig "$KUBECONFIG" --context paas-b --prefix bench- >&2
  bench_compact paas-b
  for c in "${levels[@]:$half}"; do raw_level "$c"; done
done

# 3. The re-plan: B filled once more (untimed), then the raw floor and abshift.
rm -f "$OUT/plan.json.journal"
"$ABSHIFT" migrate apply "$OUT/plan.json" --yes >"$OUT/fill.out" 2>"$OUT/fill.err"
bench_compact paas-b
"$RAW" list --kubeconfig "$KUBECONFIG" --from paas-a --to paas-b --concurrency 8 --page-size "$PAGES" >"$OUT/rawlist.jsonl"
read -r rsecs rrss <<<"$(measure replan "$ABSHIFT" -v migrate plan --from paas-a --to paas-b -o "$OUT/replan.json")"
read -r rsecs2 rrss2 <<<"$(measure replan2 "$ABSHIFT" -v migrate plan --from paas-a --to paas-b -o "$OUT/replan2.json")"
"$RAW" list --kubeconfig "$KUBECONFIG" --from paas-a --to paas-b --concurrency 8 --page-size "$PAGES" >>"$OUT/rawlist.jsonl"

python3 - "$OUT" "$objects" "$psecs" "$prss" "$rsecs" "$rrss" "$rsecs2" "$rrss2" <<'PY'
import json, sys, re, statistics
out, objects, psecs, prss, rsecs, rrss, rsecs2, rrss2 = sys.argv[1:]
objects, psecs, rsecs, rsecs2 = int(objects), float(psecs), float(rsecs), float(rsecs2)
raw = [json.loads(l) for l in open(f"{out}/raw.jsonl") if l.strip()]
lists = [json.loads(l) for l in open(f"{out}/rawlist.jsonl") if l.strip()]
replan = json.load(open(f"{out}/replan.json"))
applies = []
for line in open(f"{out}/applies.txt"):
    rnd, secs, rss = line.split()
    applies.append({"round": int(rnd), "secs": float(secs), "rss": int(rss),
                    "summary": json.load(open(f"{out}/apply{rnd}.out"))})
by_level = {}
for r in raw:
    by_level.setdefault(r["concurrency"], []).append(r)
medians = {c: statistics.median(x["per_sec"] for x in rs) for c, rs in by_level.items()}
best_level = max(medians, key=medians.get)
rates = [objects / a["secs"] for a in applies]
median_rate = statistics.median(rates)
# The round whose rate is the median (the lower middle for an even count) shows its trace.
shown = sorted(applies, key=lambda a: objects / a["secs"])[(len(applies) - 1) // 2]
print(f"### Apply: default flags against a raw client at fixed concurrency ({len(applies)} rounds)\n")
print("| what | objects/s, each round | median objects/s | notes |")
print("|---|---|---:|---|")
for c in sorted(by_level):
    rs = by_level[c]
    each = ", ".join("%.0f" % x["per_sec"] for x in rs)
    mark = "**" if c == best_level else ""
    retries, failed = sum(x["retries"] for x in rs), sum(x["failed"] for x in rs)
    print(f"| raw POSTs, {c} in flight | {each} | {mark}{medians[c]:.0f}{mark} | timed POSTs only; {retries} retries, {failed} failed |")
each = ", ".join("%.0f" % r for r in rates)
peak = max(a["rss"] for a in applies)
retries = sum(a["summary"]["retries"] for a in applies)
print(f"| **abshift migrate apply, default flags** | {each} | **{median_rate:.0f}** | whole process ({objects} objects: plan read, checks, both waves, Secrets read from A, journal); peak RSS {peak} MB; {retries} retries |")
each = ", ".join("%.1f%%" % (100 * r / medians[best_level]) for r in rates)
print(f"\nabshift (median, whole process) / best raw level (median, {best_level} in flight) = **{median_rate / medians[best_level]:.1%}**; "
      f"each round against that level's median: {each}\n")
# For reading, not the target: abshift's writes alone, from its first write
# to its last object done (-v), without the plan read, the checks and the
# process around them.
def write_phase(a):
    firsts, lasts = [], []
    for line in open(f"{out}/apply{a['round']}.err"):
        if "wave applied" in line:
            f = dict(re.findall(r"(\w+)=(\S+)", line))
            firsts.append(int(f.get("started_ms", 0)))
            lasts.append(int(f["elapsed_ms"]))
    return objects / ((max(lasts) - min(firsts)) / 1000) if lasts else float("nan")
phases = [write_phase(a) for a in applies]
print(f"For reading only, abshift's writes from its first to its last (the plan read, the checks and the process left out): "
      f"{', '.join('%.0f' % r for r in phases)} objects/s, median {statistics.median(phases):.0f} "
      f"({statistics.median(phases) / medians[best_level]:.1%} of the best raw level).\n")
c = shown["summary"]["concurrency"]
print(f"Concurrency over time in round {shown['round']} (the median; abshift -v): {c['initial']} → {c['last']} (highest {c['highest']})\n")
for ch in c["changes"]:
    print(f"- {ch['atMs'] / 1000:6.2f} s: {ch['from']} → {ch['to']} ({ch['reason']}; {ch['perSec']:.0f}/s, mean {ch['meanMs']:.1f} ms)")
print(f"\nWhere the time goes, per wave (round {shown['round']}, abshift -v):\n")
print("| wave | objects written | first write, from the apply's start (ms) | A's Secrets read, from the wave's first write (ms; 0: before it) | last object done, from the wave's first write (ms) | longest wait for usable (ms) | concurrency at first write → last |")
print("|---:|---:|---:|---:|---:|---:|---|")
plan_read = "?"
for line in open(f"{out}/apply{shown['round']}.err"):
    if "plan read" in line:
        f = dict(re.findall(r"(\w+)=(\S+)", line))
        plan_read = f.get("elapsed_ms")
    if "wave applied" not in line: continue
    f = dict(re.findall(r"(\w+)=(\S+)", line))
    print(f"| {f['wave']} | {f['objects']} | {f.get('started_ms', '?')} | {f['secrets_ready_ms']} | {f['written_ms']} | {f['ready_ms']} | {f['concurrency_at_start']} → {f['concurrency_at_end']} |")
print(f"\nPlan read before the first write: {plan_read} ms.")
print("\n### Re-plan: B holds every object\n")
print("| what | wall time (s) | peak RSS (MB) | notes |")
print("|---|---:|---:|---|")
for l in lists:
    a, b = l["a"], l["b"]
    print(f"| raw list of A and B at once, page {l['page_size']}, {l['concurrency']} in flight | {l['seconds']:.2f} | – | A {a['pages']} pages / {a['bytes'] >> 20} MiB in {a['seconds']:.2f} s, B {b['pages']} pages / {b['bytes'] >> 20} MiB in {b['seconds']:.2f} s |")
floor = min(l["seconds"] for l in lists)
s = replan["summary"]
print(f"| **abshift migrate plan (re-plan)**, run 1 | **{rsecs:.2f}** | **{rrss}** | {s['objects']} objects, actions {s.get('byAction', s.get('by_action', {}))} |")
print(f"| **abshift migrate plan (re-plan)**, run 2 | **{rsecs2:.2f}** | **{rrss2}** | the same |")
print(f"| abshift migrate plan (B empty, before apply) | {psecs:.2f} | {prss} | {objects} objects |")
best_replan = min(rsecs, rsecs2)
print(f"\nre-plan (best of two, {best_replan:.2f} s) / raw floor of both clusters (best of the raw runs, {floor:.2f} s) = **{best_replan / floor:.2f}x** "
      f"(worse run: {max(rsecs, rsecs2) / floor:.2f}x); peak RSS of the re-plans: {max(int(rrss), int(rrss2))} MB\n")
for name in ("replan", "replan2"):
    print(f"abshift {name} phases (-v):\n")
    for line in open(f"{out}/{name}.err"):
        m = re.search(r"INFO\s+(.*?)\s+elapsed_ms=(\d+)", line)
        if m: print(f"- {m.group(1).strip()}: {m.group(2)} ms")
    print()
PY
