#!/usr/bin/env bash
# tests/dpdk/multiprocess_test.sh FLIT_BENCH
#
# DPDK between processes, with flit-bench as server and clients. Run inside
# netns_run.sh (it provides br0 = 198.18.0.1 and veth ends vd0..vd3 with no
# address). Two cases:
#
#  1. One DPDK server (net_af_packet on vd0, 198.18.0.2) answering, at the
#     same time, two DPDK client processes (vd1, vd2) and a kernel-UDP client
#     (the bridge's 198.18.0.1); single- and multi-packet calls, several
#     sessions, many calls in flight. Every client must finish with no error.
#  2. Two processes over net_memif: latency and multi-packet throughput runs
#     between a memif server process and a memif client process.
#  3. flit-bench's raw DPDK baseline over net_memif: the frame reflector with
#     a ping-pong, a batch-echo, multi-frame messages, and the ping-pong
#     through DpdkTransport; each must complete round trips and lose none.
#
# Exits 77 (skipped) with the reason when hugepages or the namespace are
# missing; never passes without having run.
set -euo pipefail
bench=$1
if [[ -z "${FLIT_TEST_NETNS_PAIRS:-}" ]]; then
  echo "multiprocess_test.sh: run through tests/dpdk/netns_run.sh 4 (it builds the network): skipped" >&2
  exit 77
fi
free=$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)
if ((free < 256)) || ! grep -q ' hugetlbfs ' /proc/mounts; then
  echo "multiprocess_test.sh: needs 256 free hugepages: run scripts/hugepages.sh: skipped" >&2
  exit 77
fi
eal="--no-pci --in-memory --no-telemetry --log-level=*:warning --log-level=pmd.net.memif:critical"
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for v in vd1 vd2; do ip netns del "flit-dpdk-$$-$v" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

# Moves veth end $1 into namespace flit-dpdk-$$-$1 (deleted by cleanup). DPDK
# 22.11's net_af_packet joins a PACKET_FANOUT group numbered
# (pid ^ ifindex) & 0xffff, and fanout groups are per network namespace:
# two DPDK processes in one namespace collide now and then (EINVAL at
# probe). One namespace per DPDK client process avoids it.
own_ns() {
  local n="flit-dpdk-$$-$1"
  ip netns add "$n"
  ip link set "$1" netns "$n"
  ip netns exec "$n" ip link set lo up
  ip netns exec "$n" ip link set "$1" up
  ip netns exec "$n" ethtool -K "$1" tx off >/dev/null
}

# stop PID: ends a server once its clients are done. A server that already
# died is reported, not fatal: DPDK 22.11's memif PMD unmaps the shared
# regions from its control thread when the peer disconnects, racing the
# polling thread, so a memif server can crash after its client exits
# (docs/transports.md, "Known issues"); its clients' results are checked.
stop() {
  local rc=0
  if kill "$1" 2>/dev/null; then
    wait "$1" 2>/dev/null || true
  else
    wait "$1" 2>/dev/null || rc=$?
    echo "note: server $1 had already exited (status $rc) when its clients were done"
  fi
}

check() {  # check NAME FILE: the client's report is there and no call failed
  if ! grep -q "^requests: [1-9][0-9]* in" "$2" || ! grep -q "errors 0$" "$2"; then
    echo "FAIL: $1" >&2
    cat "$2" >&2
    for log in "$tmp"/*server.log; do echo "--- $log" >&2; cat "$log" >&2; done
    exit 1
  fi
  echo "ok: $1: $(grep '^requests:' "$2")"
}

# wait_listening LOG [PATTERN]: until the last server started writes PATTERN
# (default "listening on") to LOG; bounded: 10 s.
wait_listening() {
  local pattern=${2:-listening on}
  for ((i = 0; i < 200; i++)); do
    grep -q "$pattern" "$1" && return 0
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.05
  done
  echo "FAIL: server did not start" >&2
  cat "$1" >&2
  exit 1
}

# --- 1. two DPDK processes and a kernel-UDP client at one DPDK server -------
"$bench" server --listen dpdk://198.18.0.2:31850 --duration 60 \
  --dpdk-args "$eal -l 0 --vdev=net_af_packet0,iface=vd0" --transport-opt port=net_af_packet0 \
  > "$tmp/server.log" 2>&1 &
pids+=($!)
wait_listening "$tmp/server.log"
dpdk_client() {  # dpdk_client NETNS VETH IP OUT ARGS...
  local ns=$1 veth=$2 ip=$3 out=$4
  shift 4
  ip netns exec "$ns" "$bench" client --connect dpdk://198.18.0.2:31850 --transport dpdk \
    --dpdk-args "$eal -l 1 --vdev=net_af_packet0,iface=$veth" \
    --transport-opt port=net_af_packet0 --transport-opt "ip=$ip" \
    --duration 2 --warmup 0.3 --connect-timeout 10 "$@" > "$out" 2>&1
}
own_ns vd1
own_ns vd2
ns1="flit-dpdk-$$-vd1" ns2="flit-dpdk-$$-vd2"
dpdk_client "$ns1" vd1 198.18.0.11 "$tmp/a.out" --mode throughput --sessions 4 --inflight 8 &
a=$!
dpdk_client "$ns2" vd2 198.18.0.12 "$tmp/b.out" --mode throughput --req-size 20000 --resp-size 20000 \
  --sessions 2 --inflight 2 &
b=$!
"$bench" client --connect udp://198.18.0.2:31850 --transport udp --mode throughput \
  --req-size 1000 --resp-size 1000 --inflight 8 --duration 2 --warmup 0.3 --connect-timeout 10 \
  > "$tmp/c.out" 2>&1 &
c=$!
rc=0
wait $a || rc=1
wait $b || rc=1
wait $c || rc=1
check "DPDK client 1 (af_packet vd1) -> DPDK server" "$tmp/a.out"
check "DPDK client 2 (af_packet vd2, 20000-byte calls) -> DPDK server" "$tmp/b.out"
check "kernel-UDP client -> DPDK server" "$tmp/c.out"
((rc == 0)) || { echo "FAIL: a client exited non-zero" >&2; exit 1; }
stop "${pids[0]}"  # a busy-polling server left running would starve case 2
pids=()

# --- 2. two processes over net_memif -----------------------------------------
# A server per client: the memif PMD can crash the server when its client
# exits (see stop), which must not fail the next client.
memif_case() {  # memif_case NAME CLIENT_ARGS...
  local name=$1
  shift
  local sock="$tmp/memif-${#pids[@]}-$RANDOM.sock" log="$tmp/mserver-$RANDOM.log"
  "$bench" server --listen dpdk://198.18.2.2:31850 --duration 60 \
    --dpdk-args "$eal -l 0 --vdev=net_memif0,role=server,id=0,socket=$sock" \
    --transport-opt port=net_memif0 > "$log" 2>&1 &
  pids+=($!)
  wait_listening "$log"  # a memif client needs the server's socket
  "$bench" client --connect dpdk://198.18.2.2:31850 --transport dpdk \
    --dpdk-args "$eal -l 1 --vdev=net_memif0,role=client,id=0,socket=$sock" \
    --transport-opt port=net_memif0 --transport-opt ip=198.18.2.1 \
    --duration 1 --warmup 0.3 --connect-timeout 10 "$@" > "$tmp/m.out" 2>&1 || true
  check "$name" "$tmp/m.out"
  stop "${pids[-1]}"
}
memif_case "memif two processes, latency" --mode latency
memif_case "memif two processes, 100000-byte calls" --mode throughput --req-size 100000 \
  --resp-size 100000 --inflight 4
pids=()

# --- 3. the raw DPDK baseline over net_memif ---------------------------------
baseline_case() {  # baseline_case NAME [--via-transport] CLIENT_ARGS...
  local name=$1
  shift
  local via=()
  if [[ ${1:-} == --via-transport ]]; then via=(--via-transport); shift; fi
  local bsock="$tmp/b-$name.sock"
  "$bench" baseline-server "${via[@]}" --listen dpdk://198.18.2.2:31860 --duration 30 \
    --dpdk-args "$eal -l 0 --vdev=net_memif0,role=server,id=0,socket=$bsock" \
    --transport-opt port=net_memif0 > "$tmp/b-$name-server.log" 2>&1 &
  pids+=($!)
  wait_listening "$tmp/b-$name-server.log" "reflecting\|echoing"
  "$bench" baseline "${via[@]}" --connect dpdk://198.18.2.2:31860 \
    --dpdk-args "$eal -l 1 --vdev=net_memif0,role=client,id=0,socket=$bsock" \
    --transport-opt port=net_memif0 --transport-opt ip=198.18.2.1 \
    --duration 0.5 --warmup 0.2 "$@" > "$tmp/b-$name.out" 2>&1 || true
  check "raw memif baseline, $name" "$tmp/b-$name.out"
  stop "${pids[-1]}"
}
baseline_case ping-pong --mode latency
baseline_case batch-echo --mode throughput --inflight 32
baseline_case 3-frame-messages --mode throughput --inflight 8 --req-size 4096
baseline_case via-transport --via-transport --mode latency

# --- 4. refused: tx_zero_copy on a memif port in zero-copy mode --------------
# (memif's zero-copy transmit sends from the mbuf after tx_burst returns.)
# The devargs are read as memif reads them: the last zero-copy= wins.
zc_server() {  # zc_server MEMIF_ZERO_COPY_ARGS: flit-bench's output
  "$bench" server --listen dpdk://198.18.2.2:31870 --duration 0.2 \
    --transport-opt port=net_memif0 --transport-opt tx_zero_copy=1 \
    --dpdk-args "--no-pci --no-telemetry --single-file-segments --file-prefix flitzc$$ -l 0 \
--log-level=*:warning --vdev=net_memif0,role=client,id=0,socket=$tmp/zc.sock,$1" 2>&1 || true
}
refusal="memif in zero-copy mode (zero-copy=yes) sends from the mbuf"
zc_out=$(zc_server "zero-copy=no,zero-copy=yes")
if [[ $zc_out != *"$refusal"* ]]; then
  echo "multiprocess: tx_zero_copy on a zero-copy memif port was not refused:" >&2
  echo "$zc_out" >&2
  exit 1
fi
# In copy mode the check passes; the port then fails to start, since no
# memif server is there (which is what the output must say instead).
zc_out=$(zc_server "zero-copy=yes,zero-copy=no")
if [[ $zc_out == *"$refusal"* || $zc_out != *"needs its role=server peer up first"* ]]; then
  echo "multiprocess: tx_zero_copy on a memif port in copy mode was not accepted:" >&2
  echo "$zc_out" >&2
  exit 1
fi
echo "ok: tx_zero_copy on a zero-copy memif port is refused, in copy mode accepted"
echo "multiprocess: ok"
