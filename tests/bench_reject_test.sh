#!/usr/bin/env bash
# tests/bench_reject_test.sh FLIT_BENCH MESSAGE ARGS...: flit-bench ARGS must
# fail with an exit status of its own (not a crash: no signal), saying
# MESSAGE.
set -uo pipefail
bench=$1
msg=$2
shift 2
out=$("$bench" "$@" 2>&1)
rc=$?
if [[ $rc -eq 0 ]]; then
  echo "FAIL: flit-bench $* was accepted"
  exit 1
fi
if [[ $rc -ge 128 ]]; then
  echo "FAIL: flit-bench $* died (exit status $rc): $out"
  exit 1
fi
if ! grep -qF -- "$msg" <<<"$out"; then
  echo "FAIL: flit-bench $* said: $out"
  echo "expected: $msg"
  exit 1
fi
echo "flit-bench $*: refused (exit $rc): $msg"
