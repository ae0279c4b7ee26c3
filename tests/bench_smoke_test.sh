#!/usr/bin/env bash
# flit-bench end to end over UDP on loopback: a server and a short latency
# and throughput run; checks the report's lines are there and no call failed.
set -euo pipefail
bench=$1
port=$((32000 + RANDOM % 1000))
uri="udp://127.0.0.1:$port"
out=$(mktemp)
"$bench" server --listen "$uri" --duration 20 >/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$out"' EXIT
for mode in latency throughput; do
  "$bench" client --connect "$uri" --mode "$mode" --duration 1 --warmup 0.2 \
    --connect-timeout 10 > "$out"
  cat "$out"
  grep -q "^requests: [1-9][0-9]* in" "$out"
  grep -q "^latency: p50 .* p99 .* p99.9 .* max" "$out"
  grep -q "errors 0$" "$out"
done
"$bench" client --connect "$uri" --mode throughput --req-size 4096 --resp-size 64 \
  --sessions 4 --inflight 8 --duration 0.5 --warmup 0.1 --connect-timeout 10 > "$out"
grep -q "errors 0$" "$out"
echo "bench smoke: ok"
