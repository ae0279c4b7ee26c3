#!/usr/bin/env bash
# Builds flit and runs every test suite. On a fresh Debian 12 machine, as root:
#   bash scripts/run-tests.sh
# Installs what it needs (apt packages, hugepages), builds in build-test/,
# runs `meson test`, and ends with the summary line "tests: N passed, N failed,
# N skipped". Exit status: 0 only if no test failed.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
bash scripts/hugepages.sh 1024 || echo "run-tests: no hugepages (not root): buffer pools use ordinary pages"

builddir=${FLIT_BUILDDIR:-build-test}
if [[ -f "$builddir/build.ninja" ]]; then
  meson setup --reconfigure "$builddir" >/dev/null
else
  meson setup "$builddir" -Dbuildtype=debugoptimized -Dwerror=true
fi
ninja -C "$builddir"

# The slow suite (long sweeps) runs only when asked: FLIT_TEST_SLOW=1.
suites=()
if [[ "${FLIT_TEST_SLOW:-0}" != 1 ]]; then
  suites=(--no-suite slow)
fi
status=0
meson test -C "$builddir" --print-errorlogs --num-processes 1 "${suites[@]}" "$@" || status=$?

python3 - "$builddir/meson-logs/testlog.json" <<'PY'
import json, sys
counts = {"OK": 0, "FAIL": 0, "SKIP": 0, "TIMEOUT": 0, "EXPECTEDFAIL": 0, "UNEXPECTEDPASS": 0, "ERROR": 0}
with open(sys.argv[1]) as f:
    for line in f:
        line = line.strip()
        if line:
            r = json.loads(line)
            counts[r["result"]] = counts.get(r["result"], 0) + 1
passed = counts["OK"] + counts["EXPECTEDFAIL"]
failed = counts["FAIL"] + counts["TIMEOUT"] + counts["UNEXPECTEDPASS"] + counts["ERROR"]
print(f"tests: {passed} passed, {failed} failed, {counts['SKIP']} skipped")
PY
exit $status
