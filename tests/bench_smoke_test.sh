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
json=$(mktemp)
trap 'kill $pid 2>/dev/null || true; rm -f "$out" "$json"' EXIT
for mode in latency throughput; do
  "$bench" client --connect "$uri" --mode "$mode" --duration 1 --warmup 0.2 \
    --connect-timeout 10 --json "$json" > "$out"
  # The JSON parses back and agrees with the text report.
  python3 - "$json" "$out" "$mode" <<'PY'
import json, re, sys
d = json.load(open(sys.argv[1]))
text = open(sys.argv[2]).read()
n = int(re.search(r"^requests: (\d+) in", text, re.M).group(1))
assert d["requests"] == n, (d["requests"], n)
assert d["mode"] == sys.argv[3] and d["kind"] == "flit" and d["errors"] == 0
lat = d["latency_ns"]
assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p99_9"] <= lat["max"], lat
p50_us = float(re.search(r"^latency: p50 ([0-9.]+) us", text, re.M).group(1))
assert abs(p50_us - lat["p50"] / 1000) < 0.01, (p50_us, lat["p50"])
qs = [q for q, _ in d["cdf"]]
assert qs == sorted(qs) and d["cdf"][-1][1] == lat["max"]
PY
  cat "$out"
  grep -q "^requests: [1-9][0-9]* in" "$out"
  grep -q "^latency: p50 .* p99 .* p99.9 .* max" "$out"
  grep -q "errors 0$" "$out"
done
"$bench" client --connect "$uri" --mode throughput --req-size 4096 --resp-size 64 \
  --sessions 4 --inflight 8 --duration 0.5 --warmup 0.1 --connect-timeout 10 > "$out"
grep -q "errors 0$" "$out"
if grep -q "backlog" "$out"; then echo "FAIL: 8 in flight per session needs no backlog note"; exit 1; fi
# More calls per session than it has slots: said, not hidden in the latency.
"$bench" client --connect "$uri" --mode throughput --inflight 12 --duration 0.3 --warmup 0.1 \
  --connect-timeout 10 > "$out"
grep -q "of 12 calls in flight per session the other 4 wait in the client's backlog" "$out"
# Open loop: at a rate the server can carry, no call is left unsent; far
# beyond it, the report says how many calls were due and never sent, the
# JSON carries the target, and the latency (from each call's scheduled
# time) shows the backlog instead of hiding it.
"$bench" client --connect "$uri" --mode throughput --rate 2000 --duration 0.5 --warmup 0.1 \
  --connect-timeout 10 --json "$json" > "$out"
grep -q "^open loop: target 2000 req/s, achieved [0-9]* req/s$" "$out"
"$bench" client --connect "$uri" --mode throughput --rate 100000000 --inflight 2 --duration 0.5 \
  --warmup 0.2 --connect-timeout 10 --json "$json" > "$out"
grep -q "calls due in the window were never sent" "$out"
python3 - "$json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["target_requests_per_s"] == 1e8, d
assert d["behind_schedule"] > 1_000_000, d["behind_schedule"]
assert d["requests"] > 0 and d["latency_ns"]["p50"] > 50_000_000, d  # the warm-up's backlog
PY
# Flags that contradict the mode are refused before anything runs (the
# server is up: connecting is not why they fail).
reject() {  # reject MESSAGE ARGS...
  local msg=$1; shift
  if "$bench" "$@" > "$out" 2>&1; then echo "FAIL: flit-bench $* was accepted"; exit 1; fi
  grep -qF -- "$msg" "$out" || { echo "FAIL: flit-bench $*: $(cat "$out")"; exit 1; }
}
reject "--mode latency keeps one call in flight" client --connect "$uri" --mode latency \
  --sessions 4 --duration 0.3
reject "--mode latency keeps one datagram in flight" baseline --connect "$uri" --mode latency \
  --inflight 8 --duration 0.3
# A server with simulated work (--work-iters) still answers every call, and
# says so; likewise the raw baseline's.
wport=$((port + 1000))
wlog=$(mktemp)
"$bench" server --listen "udp://127.0.0.1:$wport" --duration 20 --work-iters 2000 > "$wlog" &
wpid=$!
"$bench" client --connect "udp://127.0.0.1:$wport" --mode latency --duration 0.5 --warmup 0.1 \
  --connect-timeout 10 > "$out"
grep -q "errors 0$" "$out"
kill $wpid
wait $wpid || true
grep -q "2000 multiply-adds of work per request" "$wlog"
"$bench" baseline-server --listen "udp://127.0.0.1:$wport" --duration 20 --work-iters 2000 \
  > "$wlog" &
wpid=$!
for ((i = 0; i < 200; i++)); do  # bounded: 10 s
  grep -q "2000 multiply-adds of work per datagram" "$wlog" && break
  sleep 0.05
done
grep -q "2000 multiply-adds of work per datagram" "$wlog"
"$bench" baseline --connect "udp://127.0.0.1:$wport" --mode latency --duration 0.5 \
  --warmup 0.1 > "$out"
grep -q "^requests: [1-9][0-9]* in" "$out"
# The baseline's server answers the size the client asks for (a client
# counts an answer of another size as an error).
"$bench" baseline --connect "udp://127.0.0.1:$wport" --mode throughput --req-size 1000 \
  --resp-size 8 --duration 0.3 --warmup 0.1 --json "$json" > "$out"
grep -q "errors 0$" "$out"
python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["resp_size"] == 8 and d["requests"] > 0, d' "$json"
kill $wpid
wait $wpid || true
rm -f "$wlog"
echo "bench smoke: ok"
