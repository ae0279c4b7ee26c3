#!/usr/bin/env python3
"""bench/bench_smoke.py BINARY [ARGS...]: a smoke test of a Google Benchmark
binary. Runs every benchmark in it briefly and fails if the binary exits
non-zero, runs no benchmark, or any benchmark reports an error: a
SkipWithError (a transport that cannot send, a frame that never arrives)
leaves the exit status 0, so a broken benchmark would otherwise go unseen
until someone measures. Checks that each benchmark runs, not how fast."""
import json
import subprocess
import sys


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd = sys.argv[1:] + ["--benchmark_min_time=0.01", "--benchmark_format=json"]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, timeout=240)
    if proc.returncode != 0:
        print(f"bench_smoke: {cmd[0]} exited with {proc.returncode}", file=sys.stderr)
        return 1
    try:
        runs = json.loads(proc.stdout)["benchmarks"]
    except (ValueError, KeyError) as e:
        print(f"bench_smoke: no benchmark report from {cmd[0]}: {e}", file=sys.stderr)
        print(proc.stdout[-2000:], file=sys.stderr)
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
