#!/usr/bin/env python3
"""bench/bench_smoke.py BINARY [ARGS...]: a smoke test of a Google Benchmark
binary. Runs every benchmark in it briefly and fails if the binary exits
non-zero, runs no benchmark, or any benchmark reports an error: a
SkipWithError (a transport that cannot send, a frame that never arrives)
leaves the exit status 0, so a broken benchmark would otherwise go unseen
until someone measures. Checks that each benchmark runs, not how fast."""
import json
import os
import subprocess
import sys
import tempfile


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    # The report goes to a file of its own: DPDK logs to stdout.
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "report.json")
        cmd = sys.argv[1:] + ["--benchmark_min_time=0.01", "--benchmark_out=" + out,
                              "--benchmark_out_format=json"]
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=240)
        if proc.returncode != 0:
            print(proc.stdout[-4000:], file=sys.stderr)
            print(f"bench_smoke: {cmd[0]} exited with {proc.returncode}", file=sys.stderr)
            return 1
        try:
            with open(out, encoding="utf-8") as f:
                runs = json.load(f)["benchmarks"]
        except (OSError, ValueError, KeyError) as e:
            print(proc.stdout[-4000:], file=sys.stderr)
            print(f"bench_smoke: no benchmark report from {cmd[0]}: {e}", file=sys.stderr)
            return 1
    failed = [r for r in runs if r.get("error_occurred")]
    for r in runs:
        state = "ERROR " + r.get("error_message", "") if r.get("error_occurred") else "ok"
        print(f"{r['name']}: {state}")
    if not runs:
        print(f"bench_smoke: {cmd[0]} ran no benchmark", file=sys.stderr)
        return 1
    if failed:
        print(f"bench_smoke: {len(failed)} of {len(runs)} benchmarks failed", file=sys.stderr)
        return 1
    print(f"bench_smoke: {len(runs)} benchmarks ran")
    return 0


if __name__ == "__main__":
    sys.exit(main())
