#!/usr/bin/env bash
# The main job: flit's latency and throughput over UDP on loopback, with the
# server and client pinned to different cores. On a fresh Debian 12 machine,
# as root:
#   bash scripts/run-bench.sh [SECONDS]
# Installs what it needs, builds an optimised flit in build-release/, runs
# flit-bench server on CPU 0 and flit-bench client on CPU 1 (latency, then
# throughput), and stops the server.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}

bash scripts/install-deps.sh
bash scripts/hugepages.sh 1024 || true

builddir=${FLIT_BUILDDIR:-build-release}
if [[ ! -f "$builddir/build.ninja" ]]; then
  meson setup "$builddir" -Dbuildtype=release -Dtests=false -Dflitc=false >/dev/null
fi
ninja -C "$builddir" bench/flit-bench >/dev/null

ncpu=$(nproc)
server_cpu=0
client_cpu=$((ncpu > 1 ? 1 : 0))
port=${FLIT_BENCH_PORT:-31850}
uri="udp://127.0.0.1:$port"
bench="$builddir/bench/flit-bench"

"$bench" server --listen "$uri" --cpu "$server_cpu" --duration $((4 * secs + 30)) &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true' EXIT
# No wait needed: the client's connect retries until the server answers.
"$bench" client --connect "$uri" --cpu "$client_cpu" --mode latency --duration "$secs" \
  --connect-timeout 10
echo
"$bench" client --connect "$uri" --cpu "$client_cpu" --mode throughput --inflight 32 \
  --duration "$secs" --connect-timeout 10
