#!/usr/bin/env python3
"""Checks that every C++ block the README quotes from a source file is, line
for line, in that file: the README's examples are code CI compiles."""
import re
import sys
from pathlib import Path

root = Path(sys.argv[1])
readme = (root / "README.md").read_text()
quotes = re.findall(r"\[`([^`]+\.cc)`\]\([^)]*\)(?:(?!```).)*?```cpp\n(.*?)```", readme, re.S)
if not quotes:
    sys.exit("README.md quotes no source file: expected at least one")
bad = 0
for path, block in quotes:
    src = (root / path).read_text()
    if block not in src:
        print(f"README.md block quoted from {path} is not in that file:\n{block}")
        bad += 1
print(f"{len(quotes)} quoted blocks checked, {bad} stale")
sys.exit(1 if bad else 0)
