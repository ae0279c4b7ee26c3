#!/usr/bin/env bash
# The standard benchmark matrix: flit against the raw baseline over the same
# transport, measured in the same run, server on CPU 0 and client on CPU 1,
# each figure the median of ROUNDS runs. Writes JSON per run to
# bench-results/ and prints the Markdown table for docs/BENCHMARKS.md (and
# replaces the table there with --update-docs).
#
#   scripts/bench.sh [--rounds 5] [--seconds 3] [--update-docs]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=5
secs=3
update=0
while (($#)); do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --seconds) secs=$2; shift 2 ;;
    --update-docs) update=1; shift ;;
    *) echo "bench.sh: unknown flag $1 (--rounds N, --seconds S, --update-docs)" >&2; exit 2 ;;
  esac
done

builddir=${FLIT_BUILDDIR:-build-release}
if [[ ! -f "$builddir/build.ninja" ]]; then
  meson setup "$builddir" -Dbuildtype=release -Dtests=false >/dev/null
fi
ninja -C "$builddir" bench/flit-bench >/dev/null
bench="$builddir/bench/flit-bench"
out=bench-results
mkdir -p "$out"
rm -f "$out"/*.json
port=31950

# name | flit server args | flit client args | baseline client args
matrix=(
  "latency-32B||--mode latency --req-size 32 --resp-size 32|--mode latency --req-size 32"
  "latency-4KiB|--mtu 4200|--mode latency --req-size 4096 --resp-size 4096 --mtu 4200|--mode latency --req-size 4096"
  "throughput-32B||--mode throughput --sessions 4 --inflight 8 --req-size 32 --resp-size 32|--mode throughput --inflight 32 --req-size 32"
  "throughput-4KiB|--mtu 4200|--mode throughput --sessions 4 --inflight 8 --req-size 4096 --resp-size 4096 --mtu 4200|--mode throughput --inflight 32 --req-size 4096"
  "bandwidth-1MiB||--mode bandwidth --sessions 2 --inflight 4 --req-size 1048576 --resp-size 32|--mode throughput --inflight 32 --req-size 1432"
)

run_pair() {  # run_pair NAME ROUND SERVER_ARGS CLIENT_ARGS BASELINE_ARGS
  local name=$1 r=$2 sargs=$3 cargs=$4 bargs=$5
  port=$((port + 1))
  "$bench" baseline-server --listen "udp://127.0.0.1:$port" --cpu 0 --duration $((secs + 20)) >/dev/null &
  local bpid=$!
  # shellcheck disable=SC2086
  "$bench" baseline --connect "udp://127.0.0.1:$port" --cpu 1 --duration "$secs" --warmup 0.5 \
    $bargs --json "$out/$name-baseline-$r.json" >/dev/null
  if [[ $name == latency-32B ]]; then  # the 1:1-socket variant, for reference
    # shellcheck disable=SC2086
    "$bench" baseline --connect "udp://127.0.0.1:$port" --cpu 1 --duration "$secs" --warmup 0.5 \
      $bargs --connected --json "$out/$name-connected-$r.json" >/dev/null
  fi
  kill "$bpid" 2>/dev/null; wait "$bpid" 2>/dev/null || true
  port=$((port + 1))
  # shellcheck disable=SC2086
  "$bench" server --listen "udp://127.0.0.1:$port" --cpu 0 --duration $((secs + 20)) $sargs >/dev/null &
  local spid=$!
  # shellcheck disable=SC2086
  "$bench" client --connect "udp://127.0.0.1:$port" --cpu 1 --duration "$secs" --warmup 0.5 \
    --connect-timeout 10 $cargs --json "$out/$name-flit-$r.json" >/dev/null
  kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null || true
}

for ((r = 1; r <= rounds; r++)); do
  for row in "${matrix[@]}"; do
    IFS='|' read -r name sargs cargs bargs <<<"$row"
    echo "bench.sh: round $r/$rounds: $name" >&2
    run_pair "$name" "$r" "$sargs" "$cargs" "$bargs"
  done
done

python3 - "$out" "$rounds" "$secs" "$update" <<'PY'
import json, statistics, sys, glob, re, subprocess
out, rounds, secs, update = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4] == "1"
names = ["latency-32B", "latency-4KiB", "throughput-32B", "throughput-4KiB", "bandwidth-1MiB"]
def load(name, kind):
    return [json.load(open(f)) for f in sorted(glob.glob(f"{out}/{name}-{kind}-*.json"))]
med = lambda xs: statistics.median(xs)
rows = []
for n in names:
    f, b = load(n, "flit"), load(n, "baseline")
    if not f or not b:
        continue
    if n.startswith("latency"):
        fp50, bp50 = med([x["latency_ns"]["p50"] for x in f]), med([x["latency_ns"]["p50"] for x in b])
        fp99, bp99 = med([x["latency_ns"]["p99"] for x in f]), med([x["latency_ns"]["p99"] for x in b])
        rows.append(f"| {n} | median RTT | {fp50/1000:.2f} us | {bp50/1000:.2f} us | **{fp50/bp50:.2f}x** |")
        rows.append(f"| {n} | p99 RTT | {fp99/1000:.2f} us | {bp99/1000:.2f} us | **{fp99/bp99:.2f}x** |")
        c = load(n, "connected")
        if c:
            cp50 = med([x["latency_ns"]["p50"] for x in c])
            rows.append(f"| {n} | median RTT, baseline on a connected (1:1) socket | {fp50/1000:.2f} us | {cp50/1000:.2f} us | {fp50/cp50:.2f}x |")
    elif n.startswith("throughput"):
        fr, br = med([x["requests_per_s"] for x in f]), med([x["requests_per_s"] for x in b])
        rows.append(f"| {n} | requests/s | {fr/1e3:.0f} k | {br/1e3:.0f} k | **{fr/br:.2f}x** |")
    else:
        fg = med([x["requests_per_s"] * x["req_size"] * 8 / 1e9 for x in f])
        bg = med([x["requests_per_s"] * x["req_size"] * 8 / 1e9 for x in b])
        rows.append(f"| {n} | Gbit/s one way | {fg:.2f} | {bg:.2f} | **{fg/bg:.2f}x** |")
cpu = subprocess.run(["sh", "-c", "lscpu | sed -n 's/^Model name: *//p' | head -1"], capture_output=True, text=True).stdout.strip()
table = "\n".join([
    f"Medians of {rounds} runs of {secs} s each (after 0.5 s warm-up), UDP on loopback,",
    f"server on CPU 0, client on CPU 1 ({cpu}). Command: `scripts/bench.sh --rounds {rounds} --seconds {secs}`.",
    "",
    "| benchmark | metric | flit | raw baseline | flit / baseline |",
    "|---|---|---:|---:|---:|",
    *rows,
])
print(table)
if update:
    p = "docs/BENCHMARKS.md"
    s = open(p).read()
    start, end = "<!-- bench.sh:udp:start -->", "<!-- bench.sh:udp:end -->"
    block = f"{start}\n{table}\n{end}"
    s = re.sub(re.escape(start) + ".*?" + re.escape(end), block, s, flags=re.S) if start in s else s + "\n" + block + "\n"
    open(p, "w").write(s)
PY
