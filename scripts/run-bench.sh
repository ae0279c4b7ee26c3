#!/usr/bin/env bash
# The main job: flit's latency and throughput over UDP on loopback, next to
# the raw limit (the same datagrams over busy-polled sockets, no RPC layer)
# measured in the same run; server on CPU 0, client on CPU 1. On a fresh
# Debian 12 machine, as root:
#   bash scripts/run-bench.sh [SECONDS]
# Installs what it needs, builds an optimised flit in build-release/, runs
# the four measurements and prints flit / baseline ratios at the end.
# (scripts/bench.sh runs the full matrix, medians of several runs.)
set -euo pipefail
# Runs a build step with its output kept back unless it fails.
quiet() {
  local log
  log=$(mktemp)
  if ! "$@" >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    echo "run-bench: failed: $*" >&2
    exit 1
  fi
  rm -f "$log"
}
cd "$(dirname "$0")/.."
secs=${1:-5}

bash scripts/install-deps.sh
bash scripts/hugepages.sh 1024 || true

builddir=${FLIT_BUILDDIR:-build-release}
if [[ ! -f "$builddir/build.ninja" ]]; then
  quiet meson setup "$builddir" -Dbuildtype=release -Dtests=false
fi
quiet ninja -C "$builddir" bench/flit-bench

ncpu=$(nproc)
server_cpu=0
client_cpu=$((ncpu > 1 ? 1 : 0))
port=${FLIT_BENCH_PORT:-31850}
bench="$builddir/bench/flit-bench"
out=$(mktemp -d)
pid=
trap 'if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; fi; rm -rf "$out"' EXIT

# No wait needed after starting a server: the clients retry until it answers.
uri="udp://127.0.0.1:$port"
"$bench" server --listen "$uri" --cpu "$server_cpu" --duration $((4 * secs + 30)) &
pid=$!
"$bench" client --connect "$uri" --cpu "$client_cpu" --mode latency --duration "$secs" \
  --connect-timeout 10 --json "$out/flit-latency.json"
echo
"$bench" client --connect "$uri" --cpu "$client_cpu" --mode throughput --sessions 4 \
  --inflight 8 --duration "$secs" --connect-timeout 10 --json "$out/flit-throughput.json"
kill "$pid"; wait "$pid" 2>/dev/null || true

buri="udp://127.0.0.1:$((port + 10))"
"$bench" baseline-server --listen "$buri" --cpu "$server_cpu" --duration $((4 * secs + 30)) &
pid=$!
echo
"$bench" baseline --connect "$buri" --cpu "$client_cpu" --mode latency --duration "$secs" \
  --json "$out/base-latency.json"
echo
"$bench" baseline --connect "$buri" --cpu "$client_cpu" --mode throughput --inflight 32 \
  --duration "$secs" --json "$out/base-throughput.json"
kill "$pid"; wait "$pid" 2>/dev/null || true
pid=

python3 - "$out" <<'PY'
import json, sys
d = lambda n: json.load(open(f"{sys.argv[1]}/{n}.json"))
fl, bl, ft, bt = d("flit-latency"), d("base-latency"), d("flit-throughput"), d("base-throughput")
print("\n== flit against the raw UDP limit, same run ==")
for q in ("p50", "p99"):
    f, b = fl["latency_ns"][q], bl["latency_ns"][q]
    print(f"latency {q}:  flit {f/1000:8.2f} us   baseline {b/1000:8.2f} us   ratio {f/b:.2f}x")
f, b = ft["requests_per_s"], bt["requests_per_s"]
print(f"throughput:   flit {f/1e3:8.0f} k/s  baseline {b/1e3:8.0f} k/s  ratio {f/b:.2f}x")
PY
