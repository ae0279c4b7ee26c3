#!/usr/bin/env bash
# The example key-value server end to end: put, get, overwrite, delete, and
# eviction when the cache is full.
set -euo pipefail
server=$1
client=$2
port=$((33000 + RANDOM % 1000))
uri="udp://127.0.0.1:$port"
"$server" "$uri" --max-items 2 >/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
expect() {  # expect WANT CMD...: the command's output must be WANT
  local want=$1; shift
  local got
  got=$("$@" 2>&1) || true
  if [[ "$got" != "$want" ]]; then
    echo "FAIL: $* gave '$got', want '$want'"; exit 1
  fi
}
expect "ok version 1" "$client" "$uri" put alpha one
expect "one" "$client" "$uri" get alpha
expect "ok version 2" "$client" "$uri" put alpha uno
expect "uno" "$client" "$uri" get alpha
expect "not found" "$client" "$uri" get beta
expect "ok version 3" "$client" "$uri" put beta two
expect "ok version 4" "$client" "$uri" put gamma three     # evicts alpha, the oldest
expect "not found" "$client" "$uri" get alpha
expect "two" "$client" "$uri" get beta
expect "deleted" "$client" "$uri" del beta
expect "not found" "$client" "$uri" del beta
expect "usage: kv_client URI put KEY VALUE | get KEY | del KEY" "$client" "$uri" put onlykey
echo "kvstore: ok"
