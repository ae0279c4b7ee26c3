#!/usr/bin/env bash
# The example key-value server end to end: put, get, overwrite, delete,
# eviction when the cache is full (by item count and by bytes), values too
# large to store, and bad command lines.
set -euo pipefail
server=$1
client=$2
port=$((33000 + RANDOM % 1000))
uri="udp://127.0.0.1:$port"
"$server" "$uri" --max-items 2 >/dev/null &
pid=$!
tmp_err=$(mktemp)
trap 'kill $pid 2>/dev/null || true; rm -f "$tmp_err"' EXIT
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
# An overwrite makes the key the most recently stored: gamma goes first.
expect "ok version 5" "$client" "$uri" put delta four
expect "ok version 6" "$client" "$uri" put gamma drei
expect "ok version 7" "$client" "$uri" put eps five        # evicts delta, not gamma
expect "not found" "$client" "$uri" get delta
expect "drei" "$client" "$uri" get gamma
kill $pid; wait $pid 2>/dev/null || true

# At most 10 bytes of keys and values.
"$server" "$uri" --max-bytes 10 >/dev/null &
pid=$!
expect "too large" "$client" "$uri" put k 0123456789     # 11 bytes: never fits
expect "not found" "$client" "$uri" get k
expect "ok version 1" "$client" "$uri" put a 1234        # 5 bytes
expect "ok version 2" "$client" "$uri" put b 5678        # 10 in all
expect "ok version 3" "$client" "$uri" put c 9           # 12: evicts a
expect "not found" "$client" "$uri" get a
expect "5678" "$client" "$uri" get b
expect "9" "$client" "$uri" get c
kill $pid; wait $pid 2>/dev/null || true

# Overwriting a large value with a small one gives its memory back: 200
# keys, each stored with 60 KB and then with one byte. If each kept its
# 60 KB (12 MB in all) while counting one byte against --max-bytes, the
# limit would mean nothing. (An AddressSanitizer build would keep freed
# memory in its quarantine: none here.)
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0 "$server" "$uri" >/dev/null &
pid=$!
big=$(head -c 60000 /dev/zero | tr '\0' v)
expect "ok version 1" "$client" "$uri" put warm "$big"
expect "ok version 2" "$client" "$uri" put warm x
rss0=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
for ((i = 0; i < 200; i++)); do
  "$client" "$uri" put "k$i" "$big" >/dev/null
  "$client" "$uri" put "k$i" x >/dev/null
done
expect "x" "$client" "$uri" get k199
rss1=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
if ((rss1 - rss0 > 4096)); then
  echo "FAIL: the server grew by $((rss1 - rss0)) kB holding 200 one-byte values"; exit 1
fi
kill $pid; wait $pid 2>/dev/null || true

for bad in "--max-items 0" "--max-items abc" "--max-bytes -5" "--max-items 3x" "--max-bytes +7"; do
  # shellcheck disable=SC2086
  if "$server" "$uri" $bad >/dev/null 2>"$tmp_err"; then
    echo "FAIL: kv_server $bad was accepted"; exit 1
  fi
  grep -q "needs a positive integer" "$tmp_err" || { echo "FAIL: kv_server $bad: $(cat "$tmp_err")"; exit 1; }
done
echo "kvstore: ok"
