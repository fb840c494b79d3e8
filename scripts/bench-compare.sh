#!/usr/bin/env bash
# Runs our per-receipt benchmarks and the Python library's baseline benchmark in one sitting and
# prints the figures side by side (medians). The machine is noisy: compare the ratios.
#
# Usage: scripts/bench-compare.sh [--runs N] [--n-emit N] [--n-chain N]
#   (defaults 5 / 20000 / 20000; the Python side takes about 3 minutes with them)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=5; N_EMIT=20000; N_CHAIN=20000
while (($#)); do
  case $1 in
    --runs) RUNS=$2; shift 2 ;;
    --n-emit) N_EMIT=$2; shift 2 ;;
    --n-chain) N_CHAIN=$2; shift 2 ;;
    *) echo "unknown argument $1"; exit 2 ;;
  esac
done
VENV=target/py-ai-audit-trail
if ! "$VENV/bin/python" -c "import ai_audit" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check ai-audit-trail==0.4.7
fi
OUT=target/bench-compare; mkdir -p "$OUT"

echo "== Python ai-audit-trail 0.4.7 (../shared/bench/python_seed_bench.py, runs=$RUNS n-emit=$N_EMIT n-chain=$N_CHAIN)"
"$VENV/bin/python" ../shared/bench/python_seed_bench.py --runs "$RUNS" --n-emit "$N_EMIT" \
  --n-chain "$N_CHAIN" --out "$OUT/python.json" > "$OUT/python.log"

echo "== ai-audit (criterion, cargo bench -p audit-runtime --bench receipts)"
cargo bench -p audit-runtime --bench receipts -- --noplot > "$OUT/rust.log" 2>&1

"$VENV/bin/python" - "$OUT/python.json" "$N_CHAIN" <<'PY'
import json, os, sys
py = json.load(open(sys.argv[1]))
def ours(name):
    p = os.path.join("target/criterion", name, "new/estimates.json")
    return json.load(open(p))["median"]["point_estimate"]  # ns per iteration
rows = []
emit = py["a_emit_per_s_1thread_median"]; vchain = py["c_verify_chain_receipts_per_s_median"]
seal = 1e9 / ours("receipt/seal"); build = 1e9 / ours("receipt/build_and_chain_seal")
ver = 1e9 / ours("receipt/verify"); chain = 1e9 * 10_000 / ours("chain/verify_jsonl_10k_all_cores")
print(f"{'figure':58s} {'ai-audit':>12s} {'python':>12s} {'ratio':>7s}")
for label, a, b in [
    ("seal/s, 1 thread (payload + SHA-256 + Ed25519)  vs emit/s", seal, emit),
    ("build + chain-seal/s, 1 thread (emit_one workload) vs emit/s", build, emit),
    ("verify/s, 1 thread (strict parse + hash + verify_strict)", ver, vchain),
    ("chain verify/s, all cores (10k-receipt JSONL)", chain, vchain),
]:
    print(f"{label:58s} {a:12,.0f} {b:12,.0f} {a / b:6.1f}x")
print(f"python verify_chain runs on already-parsed models; its full offline check (unzip + parse + verify_chain) took {py['e2_full_offline_verify_seconds_median']} s for {sys.argv[2]} receipts")
PY
