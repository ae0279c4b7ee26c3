#!/usr/bin/env bash
# bench/dpdk/compare_memif.sh FLIT_BENCH [ROUNDS] [SECONDS]
#
# flit's round-trip latency over DPDK memif against the raw baseline on the
# same link, measured in the same run: ROUNDS (default 3) of a raw-frame
# baseline run (flit-bench baseline), a DpdkTransport-only run (flit-bench
# baseline --via-transport: the transport with no engine) and a flit-bench
# client run, SECONDS (default 2) each, 32-byte
# requests and responses, server pinned to CPU 0 and client to CPU 1 (EAL
# main lcores 0 and 1). Prints each run's p50/p99 and the median ratio.
# Environment: REQ_SIZE (default 32) bytes per request and response (above
# 1432, one frame's worth, the transport-only run is left out: it sends one
# frame per message);
# FLIT_OPTS, extra transport options for both flit-bench sides, e.g.
# FLIT_OPTS=tx_zero_copy=1; WORK (default 0) multiply-adds of simulated work
# per request in every server (--work-iters), the same for all three.
# Needs root and hugepages (scripts/hugepages.sh).
set -euo pipefail
bench=$1 rounds=${2:-3} secs=${3:-2}
size=${REQ_SIZE:-32}
work=${WORK:-0}
fopts=()
for o in ${FLIT_OPTS:-}; do fopts+=(--transport-opt "$o"); done
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
eal="--no-pci --in-memory --no-telemetry --log-level=*:warning --log-level=pmd.net.memif:critical"
wait_for() {  # wait_for FILE PATTERN: bounded (10 s)
  for ((i = 0; i < 200; i++)); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
  echo "compare_memif.sh: server did not start:" >&2
  cat "$1" >&2
  exit 1
}
p50() { awk '/^latency:/ {print $3}' "$1"; }
p99() { awk '/^latency:/ {print $9}' "$1"; }
ratios=()
kinds="b t"  # b: raw frames, t: through DpdkTransport (no engine)
((size > 1432)) && kinds="b"
for ((r = 1; r <= rounds; r++)); do
  for kind in $kinds; do
    via=()
    [[ $kind == t ]] && via=(--via-transport)
    sock="$tmp/$kind$r.sock"
    "$bench" baseline-server "${via[@]}" --listen dpdk://198.18.0.2:31860 --cpu 0 \
      --work-iters "$work" \
      --duration $((secs * 3 + 10)) --transport-opt port=net_memif0 \
      --dpdk-args "$eal -l 0 --vdev=net_memif0,role=server,id=0,socket=$sock" >"$tmp/${kind}s$r" 2>&1 &
    bs=$!
    wait_for "$tmp/${kind}s$r" "echoing\|reflecting"
    "$bench" baseline "${via[@]}" --connect dpdk://198.18.0.2:31860 --cpu 1 --duration "$secs" \
      --warmup 0.5 --req-size "$size" --transport-opt port=net_memif0 --transport-opt ip=198.18.0.1 \
      --dpdk-args "$eal -l 1 --vdev=net_memif0,role=client,id=0,socket=$sock" >"$tmp/${kind}c$r" 2>&1
    kill $bs 2>/dev/null || true
    wait $bs 2>/dev/null || true
  done

  sock="$tmp/f$r.sock"
  "$bench" server --listen dpdk://198.18.0.2:31850 --cpu 0 --duration $((secs * 3 + 10)) \
    --work-iters "$work" \
    --transport-opt port=net_memif0 "${fopts[@]}" \
    --dpdk-args "$eal -l 0 --vdev=net_memif0,role=server,id=0,socket=$sock" > "$tmp/fs$r" 2>&1 &
  fs=$!
  wait_for "$tmp/fs$r" "listening on"
  "$bench" client --connect dpdk://198.18.0.2:31850 --transport dpdk --cpu 1 \
    --mode latency --duration "$secs" --warmup 0.5 --connect-timeout 10 \
    --req-size "$size" --resp-size "$size" \
    --transport-opt port=net_memif0 --transport-opt ip=198.18.0.1 "${fopts[@]}" \
    --dpdk-args "$eal -l 1 --vdev=net_memif0,role=client,id=0,socket=$sock" > "$tmp/fc$r" 2>&1
  kill $fs 2>/dev/null || true; wait $fs 2>/dev/null || true

  b=$(p50 "$tmp/bc$r") f=$(p50 "$tmp/fc$r")
  ratio=$(awk -v f="$f" -v b="$b" 'BEGIN {printf "%.3f", f / b}')
  ratios+=("$ratio")
  tonly="transport only n/a (one frame per message) |"
  if [[ $kinds == "b t" ]]; then
    t=$(p50 "$tmp/tc$r")
    tratio=$(awk -v f="$t" -v b="$b" 'BEGIN {printf "%.3f", f / b}')
    tonly="transport only p50 $t us p99 $(p99 "$tmp/tc$r") us (x$tratio) |"
  fi
  echo "round $r: raw baseline p50 $b us p99 $(p99 "$tmp/bc$r") us |" "$tonly" \
    "flit p50 $f us p99 $(p99 "$tmp/fc$r") us (x$ratio)"
done
median=$(printf '%s\n' "${ratios[@]}" | sort -n |
  awk '{a[NR]=$1} END {printf "%.3f\n", NR % 2 ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}')
echo "median ratio of p50 (flit / baseline): $median"
