#!/usr/bin/env bash
# The standard benchmark matrix: flit against the raw baseline over the same
# transport, measured in the same run, server on CPU 0 and client on CPU 1,
# each figure the median of ROUNDS runs: UDP on loopback, and DPDK over a
# net_memif link between two processes (when flit-bench has the DPDK
# transport; needs root and hugepages, which it reserves). Writes JSON per
# run to bench-results/ and prints the Markdown tables for
# docs/BENCHMARKS.md (and replaces the tables there with --update-docs).
#
#   scripts/bench.sh [--rounds 5] [--seconds 3] [--transports udp,memif] [--update-docs]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=5
secs=3
update=0
transports=udp,memif
while (($#)); do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --seconds) secs=$2; shift 2 ;;
    --transports) transports=$2; shift 2 ;;
    --update-docs) update=1; shift ;;
    *) echo "bench.sh: unknown flag $1 (--rounds N, --seconds S, --transports udp,memif, --update-docs)" >&2; exit 2 ;;
  esac
done
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "bench.sh: --rounds wants a positive integer" >&2; exit 2; }
[[ $secs =~ ^[1-9][0-9]*$ ]] || { echo "bench.sh: --seconds wants a positive integer" >&2; exit 2; }
for t in ${transports//,/ }; do
  [[ $t == udp || $t == memif ]] || { echo "bench.sh: unknown transport $t (udp, memif)" >&2; exit 2; }
done

builddir=${FLIT_BUILDDIR:-build-release}
if [[ ! -f "$builddir/build.ninja" ]]; then
  meson setup "$builddir" -Dbuildtype=release -Dtests=false >/dev/null
fi
ninja -C "$builddir" bench/flit-bench >/dev/null
bench="$builddir/bench/flit-bench"
out="bench-results"
mkdir -p "$out"
rm -f "$out"/*.json
port=31950
eal="--no-pci --in-memory --no-telemetry --log-level=*:warning --log-level=pmd.net.memif:critical"
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT

if [[ ,$transports, == *,memif,* ]]; then
  # (Not a pipe into grep: under pipefail flit-bench's own exit status 1
  # would make the match count as a miss.)
  probe=$("$bench" baseline --transport dpdk --connect dpdk://198.18.0.2:1 2>&1 || true)
  if [[ $probe == *"built without the DPDK"* ]]; then
    echo "bench.sh: flit-bench has no DPDK transport: memif rows skipped" >&2
    transports=${transports//memif/}
  elif ! scripts/hugepages.sh >/dev/null; then
    echo "bench.sh: no hugepages (needs root): memif rows skipped" >&2
    transports=${transports//memif/}
  fi
fi

# transport | name | flit server args | flit client args | baseline client args
matrix=(
  "udp|latency-32B||--mode latency --req-size 32 --resp-size 32|--mode latency --req-size 32"
  "udp|latency-4KiB|--mtu 4200|--mode latency --req-size 4096 --resp-size 4096 --mtu 4200|--mode latency --req-size 4096"
  "udp|throughput-32B||--mode throughput --sessions 4 --inflight 8 --req-size 32 --resp-size 32|--mode throughput --inflight 32 --req-size 32"
  "udp|throughput-4KiB|--mtu 4200|--mode throughput --sessions 4 --inflight 8 --req-size 4096 --resp-size 4096 --mtu 4200|--mode throughput --inflight 32 --req-size 4096"
  "udp|bandwidth-1MiB||--mode bandwidth --sessions 2 --inflight 4 --req-size 1048576 --resp-size 32|--mode throughput --inflight 32 --req-size 1432 --resp-size 0"
  # memif: 1472-byte packets (the DPDK default); a 4 KiB message is 3 frames
  # for flit and for the raw baseline alike.
  "memif|latency-32B||--mode latency --req-size 32 --resp-size 32|--mode latency --req-size 32"
  "memif|latency-4KiB||--mode latency --req-size 4096 --resp-size 4096|--mode latency --req-size 4096"
  "memif|throughput-32B||--mode throughput --sessions 4 --inflight 8 --req-size 32 --resp-size 32|--mode throughput --inflight 32 --req-size 32"
  "memif|throughput-4KiB||--mode throughput --sessions 4 --inflight 8 --req-size 4096 --resp-size 4096|--mode throughput --inflight 32 --req-size 4096"
)

# endpoint TRANSPORT SIDE(server|client) PORT: the address and transport
# flags, one argument per line (the EAL arguments are one argument).
endpoint() {
  local t=$1 side=$2 p=$3
  if [[ $t == udp && $side == server ]]; then
    printf '%s\n' --listen "udp://127.0.0.1:$p"
  elif [[ $t == udp ]]; then
    printf '%s\n' --connect "udp://127.0.0.1:$p"
  elif [[ $side == server ]]; then
    printf '%s\n' --listen "dpdk://198.18.0.2:$p" --transport-opt port=net_memif0 \
      --dpdk-args "$eal -l 0 --vdev=net_memif0,role=server,id=0,socket=$tmp/memif-$p.sock"
  else
    printf '%s\n' --connect "dpdk://198.18.0.2:$p" --transport dpdk \
      --transport-opt port=net_memif0 --transport-opt ip=198.18.0.1 \
      --dpdk-args "$eal -l 1 --vdev=net_memif0,role=client,id=0,socket=$tmp/memif-$p.sock"
  fi
}

# start_server LOG ARGS...: runs flit-bench in the background until it says
# it is up (bounded: 10 s); sets spid.
start_server() {
  local log=$1
  shift
  "$bench" "$@" >"$log" 2>&1 &
  spid=$!
  for ((i = 0; i < 200; i++)); do
    grep -qE "listening on|echoing on|reflecting" "$log" 2>/dev/null && return 0
    kill -0 "$spid" 2>/dev/null || break
    sleep 0.05
  done
  echo "bench.sh: server did not start: $*" >&2
  cat "$log" >&2
  exit 1
}

# (A memif server may already have died when its client exited: a DPDK
# 22.11 memif race, docs/transports.md "Known issues"; the client's figures
# stand.)
stop_server() {
  kill "$spid" 2>/dev/null || true
  wait "$spid" 2>/dev/null || true
}

# run_client LOG ARGS...: a measuring flit-bench run; its output goes to
# LOG, and is shown if it fails (the matrix then stops).
run_client() {
  local log=$1
  shift
  if ! "$bench" "$@" >"$log" 2>&1; then
    echo "bench.sh: failed: flit-bench $*" >&2
    cat "$log" >&2
    exit 1
  fi
}

run_baseline() {  # run_baseline TRANSPORT NAME ROUND BASELINE_ARGS
  local t=$1 name=$2 r=$3 bargs=$4
  local -a sa ca
  port=$((port + 1))
  mapfile -t sa < <(endpoint "$t" server "$port")
  mapfile -t ca < <(endpoint "$t" client "$port")
  start_server "$tmp/bs" baseline-server "${sa[@]}" --cpu 0 --duration $((secs + 20))
  # shellcheck disable=SC2086
  run_client "$tmp/bc" baseline "${ca[@]}" --cpu 1 --duration "$secs" --warmup 0.5 \
    $bargs --json "$out/$t-$name-baseline-$r.json"
  if [[ $t == udp && $name == latency-32B ]]; then  # the 1:1-socket variant, for reference
    # shellcheck disable=SC2086
    run_client "$tmp/bc" baseline "${ca[@]}" --cpu 1 --duration "$secs" --warmup 0.5 \
      $bargs --connected --json "$out/$t-$name-connected-$r.json"
  fi
  stop_server
}

run_flit() {  # run_flit TRANSPORT NAME ROUND SERVER_ARGS CLIENT_ARGS
  local t=$1 name=$2 r=$3 sargs=$4 cargs=$5
  local -a sa ca
  port=$((port + 1))
  mapfile -t sa < <(endpoint "$t" server "$port")
  mapfile -t ca < <(endpoint "$t" client "$port")
  # shellcheck disable=SC2086
  start_server "$tmp/fs" server "${sa[@]}" --cpu 0 --duration $((secs + 20)) $sargs
  # shellcheck disable=SC2086
  run_client "$tmp/fc" client "${ca[@]}" --cpu 1 --duration "$secs" --warmup 0.5 \
    --connect-timeout 10 $cargs --json "$out/$t-$name-flit-$r.json"
  stop_server
}

# The baseline first in odd rounds, flit first in even ones, so that
# neither always runs on the heels of the other.
run_pair() {  # run_pair TRANSPORT NAME ROUND SERVER_ARGS CLIENT_ARGS BASELINE_ARGS
  if (($3 % 2 == 1)); then
    run_baseline "$1" "$2" "$3" "$6"
    run_flit "$1" "$2" "$3" "$4" "$5"
  else
    run_flit "$1" "$2" "$3" "$4" "$5"
    run_baseline "$1" "$2" "$3" "$6"
  fi
}

for ((r = 1; r <= rounds; r++)); do
  for row in "${matrix[@]}"; do
    IFS='|' read -r t name sargs cargs bargs <<<"$row"
    [[ ,$transports, == *,$t,* ]] || continue
    echo "bench.sh: round $r/$rounds: $t $name" >&2
    run_pair "$t" "$name" "$r" "$sargs" "$cargs" "$bargs"
  done
done

# The CPU side of the memif rows, free of the two-core runs' regimes: flit's
# whole per-call cost with both Rpcs on one core against two raw frames
# (flit-dpdk-micro-bench, when the build has it; --benchmark_repetitions
# ROUNDS, medians).
if [[ ,$transports, == *,memif,* ]]; then
  if ninja -C "$builddir" bench/dpdk/flit-dpdk-micro-bench >/dev/null 2>&1; then
    echo "bench.sh: one core: BM_RpcLoopback/32 against BM_RawFrameLoopback/32" >&2
    taskset -c 1 "$builddir/bench/dpdk/flit-dpdk-micro-bench" \
      --benchmark_filter='RpcLoopback/32$|RawFrameLoopback/32$' \
      --benchmark_repetitions="$rounds" \
      --benchmark_out="$out/memif-onecore.json" --benchmark_out_format=json >/dev/null 2>&1 ||
      echo "bench.sh: flit-dpdk-micro-bench failed: the one-core row is left out" >&2
  else
    echo "bench.sh: no flit-dpdk-micro-bench in $builddir (Google Benchmark missing?): the one-core row is left out" >&2
  fi
fi

python3 - "$out" "$rounds" "$secs" "$update" "$transports" <<'PY'
import json, statistics, sys, glob, re, subprocess
out, rounds, secs, update = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4] == "1"
transports = [t for t in sys.argv[5].split(",") if t]
names = ["latency-32B", "latency-4KiB", "throughput-32B", "throughput-4KiB", "bandwidth-1MiB"]
def rounds_of(t, name, kind):  # round number -> result
    files = glob.glob(f"{out}/{t}-{name}-{kind}-*.json")
    return {int(re.search(r"-(\d+)\.json$", f).group(1)): json.load(open(f)) for f in files}
def load(t, name, kind):
    return list(rounds_of(t, name, kind).values())
med = lambda xs: statistics.median(xs)
def paired(t, n, metric):
    # flit / baseline per round (the two runs of a round are adjacent in
    # time, so they saw the same machine): robust to a load change between
    # rounds that a ratio of two medians would mix in.
    f, b = rounds_of(t, n, "flit"), rounds_of(t, n, "baseline")
    rs = [metric(f[r]) / metric(b[r]) for r in sorted(f) if r in b and metric(b[r]) > 0]
    if not rs:
        return ""
    return f"**{med(rs):.2f}x** ({min(rs):.2f}-{max(rs):.2f})"
cpu = subprocess.run(["sh", "-c", "lscpu | sed -n 's/^Model name: *//p' | head -1"], capture_output=True, text=True).stdout.strip()
where = {"udp": "UDP on loopback", "memif": "DPDK over net_memif between two processes (raw baseline: reflected Ethernet/IPv4/UDP frames)"}
p = "docs/BENCHMARKS.md"
doc = open(p).read() if update else ""
for t in transports:
    rows = []
    for n in names:
        f, b = load(t, n, "flit"), load(t, n, "baseline")
        if not f or not b:
            continue
        if n.startswith("latency"):
            fp50, bp50 = med([x["latency_ns"]["p50"] for x in f]), med([x["latency_ns"]["p50"] for x in b])
            fp99, bp99 = med([x["latency_ns"]["p99"] for x in f]), med([x["latency_ns"]["p99"] for x in b])
            p50 = paired(t, n, lambda x: x["latency_ns"]["p50"])
            p99 = paired(t, n, lambda x: x["latency_ns"]["p99"])
            rows.append(f"| {n} | median RTT | {fp50/1000:.2f} us | {bp50/1000:.2f} us | {fp50/bp50:.2f}x | {p50} |")
            rows.append(f"| {n} | p99 RTT | {fp99/1000:.2f} us | {bp99/1000:.2f} us | {fp99/bp99:.2f}x | {p99} |")
            c = load(t, n, "connected")
            if c:
                cp50 = med([x["latency_ns"]["p50"] for x in c])
                rows.append(f"| {n} | median RTT, baseline on a connected (1:1) socket | {fp50/1000:.2f} us | {cp50/1000:.2f} us | {fp50/cp50:.2f}x | |")
        elif n.startswith("throughput"):
            fr, br = med([x["requests_per_s"] for x in f]), med([x["requests_per_s"] for x in b])
            pr = paired(t, n, lambda x: x["requests_per_s"])
            rows.append(f"| {n} | requests/s | {fr/1e3:.0f} k | {br/1e3:.0f} k | {fr/br:.2f}x | {pr} |")
        else:
            fg = med([x["requests_per_s"] * x["req_size"] * 8 / 1e9 for x in f])
            bg = med([x["requests_per_s"] * x["req_size"] * 8 / 1e9 for x in b])
            pg = paired(t, n, lambda x: x["requests_per_s"] * x["req_size"])
            rows.append(f"| {n} | Gbit/s one way | {fg:.2f} | {bg:.2f} | {fg/bg:.2f}x | {pg} |")
    onecore = f"{out}/{t}-onecore.json"
    if t == "memif" and glob.glob(onecore):
        try:
            # (One repetition has no aggregates: then the runs themselves.)
            runs = {}
            for b in json.load(open(onecore))["benchmarks"]:
                if b.get("run_type", "iteration") == "iteration":
                    runs.setdefault(b["run_name"], []).append(b["real_time"])
            med_ns = {k: med(v) for k, v in runs.items()}
            fc, rc = med_ns["BM_RpcLoopback/32"], 2 * med_ns["BM_RawFrameLoopback/32"]
            rows.append(f"| throughput-32B, one core (flit-dpdk-micro-bench) | CPU per call, both sides | {fc:.0f} ns | {rc:.0f} ns (two frames) | {rc/fc:.2f}x | |")
        except (KeyError, ValueError, json.JSONDecodeError) as e:
            print(f"bench.sh: {onecore}: no medians ({e}): the one-core row is left out", file=sys.stderr)
    if not rows:
        continue
    table = "\n".join([
        f"Medians of {rounds} runs of {secs} s each (after 0.5 s warm-up), {where[t]},",
        f"server on CPU 0, client on CPU 1 ({cpu}). Command: `scripts/bench.sh --rounds {rounds} --seconds {secs} --transports {t}`.",
        "",
        "Per round, the measure: the median of each round's own ratio (flit's run and the",
        "baseline's are adjacent in time, so they saw the same machine), with its range.",
        "Ratio of medians: flit's median over the baseline's, which mixes in any change of",
        "the machine between rounds.",
        *(["The one-core row: `BM_RpcLoopback/32` (client and echo server Rpcs on one core, 32 calls",
           "in flight) against twice `BM_RawFrameLoopback/32`, medians of the same number of",
           "repetitions, pinned to CPU 1; its ratio is raw over flit, like the throughput rows."]
          if t == "memif" and glob.glob(f"{out}/{t}-onecore.json") else []),
        "",
        "| benchmark | metric | flit | raw baseline | ratio of medians | per round |",
        "|---|---|---:|---:|---:|---:|",
        *rows,
    ])
    print(table + "\n")
    if update:
        start, end = f"<!-- bench.sh:{t}:start -->", f"<!-- bench.sh:{t}:end -->"
        block = f"{start}\n{table}\n{end}"
        doc = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda m: block, doc, flags=re.S) if start in doc else doc + "\n" + block + "\n"
if update:
    open(p, "w").write(doc)
PY
