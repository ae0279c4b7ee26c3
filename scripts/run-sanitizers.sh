#!/usr/bin/env bash
# Builds flit with AddressSanitizer and UndefinedBehaviorSanitizer and runs
# the test suites that can run under them. On a fresh Debian 12 machine, as
# root:
#   bash scripts/run-sanitizers.sh
# Builds in build-asan/ (debug, -Db_sanitize=address,undefined). Left out:
#   - DPDK (its EAL maps hugepages and shared memory in ways ASan's shadow
#     memory does not follow) and RDMA (the verbs test device is interposed
#     from the test executable, which the sanitizer runtime defeats: the
#     tests find no device);
#   - the slow suite; the simulated-network fault tests run their calls
#     scaled by FLIT_SIM_SCALE (default 0.25 here: the full counts take over
#     ten minutes under ASan).
# A memory error or undefined behaviour fails the test that hit it (with
# ASan's or UBSan's report in the log). Ends with the meson summary.
# Not part of CI (.ci/run): it takes as long again as the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
bash scripts/hugepages.sh 1024 || echo "run-sanitizers: scripts/hugepages.sh failed (its message is above)"

builddir=${FLIT_BUILDDIR:-build-asan}
if [[ ! -f "$builddir/build.ninja" ]]; then
  meson setup "$builddir" -Dbuildtype=debug -Db_sanitize=address,undefined -Db_lundef=false \
    -Ddpdk=disabled -Drdma=disabled -Dbenchmarks=true
fi
ninja -C "$builddir"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export FLIT_SIM_SCALE=${FLIT_SIM_SCALE:-0.25}
meson test -C "$builddir" --print-errorlogs --num-processes 1 --no-suite slow "$@"
