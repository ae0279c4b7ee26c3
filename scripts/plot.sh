#!/usr/bin/env bash
# Draws flit-bench results (--json files) as PNG with gnuplot:
#   scripts/plot.sh cdf OUT.png A.json [B.json ...]     latency CDFs, one curve per file
#   scripts/plot.sh load OUT.png A.json [B.json ...]    p50 and p99 latency against
#                                                       achieved requests/s (e.g. a
#                                                       sweep of --rate runs)
# Installs gnuplot (Debian's gnuplot-nox) if it is missing.
set -euo pipefail
if (($# < 3)); then
  echo "usage: scripts/plot.sh cdf|load OUT.png FILE.json..." >&2
  exit 2
fi
kind=$1 png=$2
shift 2
if ! command -v gnuplot >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gnuplot-nox >/dev/null
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 - "$kind" "$tmp" "$@" <<'PY' > "$tmp/plot.gp"
import json, sys, os
kind, tmp, files = sys.argv[1], sys.argv[2], sys.argv[3:]
runs = []
for f in files:
    d = json.load(open(f))
    runs.append((f, d))
if kind == "cdf":
    plots = []
    for i, (f, d) in enumerate(runs):
        path = os.path.join(tmp, f"cdf{i}.dat")
        with open(path, "w") as o:
            for q, ns in d["cdf"]:
                o.write(f"{ns / 1000.0} {q}\n")
        title = f"{d['kind']} {d['transport']} {d['mode']} {d['req_size']}B"
        plots.append(f"'{path}' using 1:2 with linespoints title '{title}'")
    print("set logscale x; set xlabel 'round-trip latency (us)'; set ylabel 'fraction of calls'")
    print("set key bottom right; set grid")
    print("plot " + ", ".join(plots))
elif kind == "load":
    path = os.path.join(tmp, "load.dat")
    for f, d in runs:
        if d.get("behind_schedule", 0):
            print(f"plot.sh: {f}: {d['behind_schedule']} calls due were never sent (the "
                  "offered rate was not reached); its percentiles leave them out",
                  file=sys.stderr)
    pts = sorted((d["requests_per_s"], d["latency_ns"]["p50"], d["latency_ns"]["p99"]) for _, d in runs)
    with open(path, "w") as o:
        for r, p50, p99 in pts:
            o.write(f"{r / 1000.0} {p50 / 1000.0} {p99 / 1000.0}\n")
    print("set xlabel 'throughput (k requests/s)'; set ylabel 'latency (us)'; set logscale y; set grid")
    print(f"plot '{path}' using 1:2 with linespoints title 'p50', '{path}' using 1:3 with linespoints title 'p99'")
else:
    sys.exit(f"plot.sh: unknown kind {kind} (cdf or load)")
PY
{ echo "set terminal pngcairo size 900,600 noenhanced"; echo "set output '$png'"; cat "$tmp/plot.gp"; } | gnuplot
echo "plot.sh: wrote $png"
