#!/usr/bin/env python3
"""Golden-file tests of flitc.

  golden_test.py FLITC SOURCE_DIR [--update]

1. Backend: compiles each input listed in GOLDEN and compares both generated
   headers byte for byte with golden/<name>.flit.h and golden/<name>.flit.rpc.h.
2. Diagnostics: compiles each errors/*.flit (which must fail with exit 1) and
   compares stderr with errors/<name>.err.
3. Command line: --help, --version, bad options (exit 2), the depfile.

--update rewrites the golden files from the current flitc instead of
comparing (review the diff before committing it).
"""
import os
import shutil
import subprocess
import sys
import tempfile

GOLDEN = ["all_types.flit", "common.flit", "evolution_v2.flit", "calc.flit"]


def run(cmd, cwd=None):
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)


def main():
    flitc = os.path.abspath(sys.argv[1])
    src = os.path.abspath(sys.argv[2])
    update = "--update" in sys.argv[3:]
    failures = []

    with tempfile.TemporaryDirectory() as tmp:
        for name in GOLDEN:
            r = run([flitc, "-o", tmp, name], cwd=src)
            if r.returncode != 0:
                failures.append(f"{name}: flitc failed:\n{r.stderr}")
                continue
            stem = name[: -len(".flit")]
            for suffix in (".flit.h", ".flit.rpc.h"):
                got_path = os.path.join(tmp, stem + suffix)
                want_path = os.path.join(src, "golden", stem + suffix)
                got = open(got_path).read()
                if update:
                    shutil.copy(got_path, want_path)
                    continue
                want = open(want_path).read() if os.path.exists(want_path) else None
                if got != want:
                    r = run(["diff", "-u", want_path, got_path])
                    failures.append(f"{stem + suffix} differs from golden:\n{r.stdout[:4000]}")

        # Depfile: names both outputs and every file read (the import too).
        dep = os.path.join(tmp, "all_types.d")
        r = run([flitc, "-o", tmp, "--depfile", dep, "all_types.flit"], cwd=src)
        text = open(dep).read() if os.path.exists(dep) else ""
        if r.returncode != 0 or not text.startswith(os.path.join(tmp, "all_types.flit.h") + " ") \
                or "all_types.flit.rpc.h:" not in text or "common.flit" not in text:
            failures.append(f"depfile wrong:\n{text}\n{r.stderr}")

    err_dir = os.path.join(src, "errors")
    for name in sorted(os.listdir(err_dir)):
        if not name.endswith(".flit"):
            continue
        r = run([flitc, "--check", name], cwd=err_dir)
        exp_path = os.path.join(err_dir, name[: -len(".flit")] + ".err")
        if update:
            if r.returncode == 1:
                open(exp_path, "w").write(r.stderr)
            continue
        want = open(exp_path).read() if os.path.exists(exp_path) else "<missing .err file>"
        if r.returncode != 1:
            failures.append(f"errors/{name}: exit {r.returncode}, want 1\n{r.stderr}")
        elif r.stderr != want:
            failures.append(f"errors/{name}: diagnostics differ\n--- want\n{want}--- got\n{r.stderr}")

    # Inputs too large to keep as files: a chain of 100,000 structs and a
    # type nested 100,000 deep once overflowed flitc's stack (SIGSEGV); the
    # chain also took minutes (a linear type lookup per field).
    with tempfile.TemporaryDirectory() as tmp:
        n = 100000
        big = {
            "chain.flit": "package p;\n" + "".join(
                f"struct S{i} {{ next @0 : S{i + 1}; }}\n" for i in range(n - 1))
            + f"struct S{n - 1} {{ x @0 : u8; }}\n",
            "nest.flit": "package p;\nstruct A { x @0 : " + "list<" * n + "u8" + ">" * n + "; }\n",
        }
        expect = {"chain.flit": "nests more than 64 levels deep",
                  "nest.flit": "types nest more than 16 deep"}
        for name, text in big.items():
            open(os.path.join(tmp, name), "w").write(text)
            r = run([flitc, "--check", name], cwd=tmp)
            if r.returncode != 1 or expect[name] not in r.stderr:
                failures.append(f"generated {name}: exit {r.returncode}, want 1 and "
                                f"'{expect[name]}'\n{r.stderr[:500]}")

    r = run([flitc, "--help"])
    if r.returncode != 0 or "usage: flitc" not in r.stdout:
        failures.append("--help")
    r = run([flitc, "--version"])
    if r.returncode != 0 or not r.stdout.startswith("flitc "):
        failures.append("--version")
    for bad in (["--bogus"], [], ["-o"], ["a.flit", "b.flit"]):
        r = run([flitc] + bad)
        if r.returncode != 2 or "flitc: error:" not in r.stderr:
            failures.append(f"flitc {' '.join(bad)}: exit {r.returncode}, want 2")
    r = run([flitc, "/nonexistent/x.flit"])
    if r.returncode != 1 or "cannot read" not in r.stderr:
        failures.append("missing input file")

    for f in failures:
        print("FAIL:", f)
    if not failures:
        print("golden: all outputs and diagnostics match" + (" (updated)" if update else ""))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
