#!/usr/bin/env python3
"""Merges gcov's line counts of every .gcda under a folder and reports, for each header named,
the lines run of the lines that can run (those some program compiled into code), the
percentage against the goal, and the lines never run, as ranges.

    python3 tests/coverage.py build/coverage unidist.h unidist_mpi.h unidist_shm.h

The counts under a folder holding a file named "optimized" (a program built with
optimization: tests/coverage.sh's OOM sweep, which names its allocation sites by inlined
frames) count only for lines some other program made code for: an optimizer spreads a line's
code over lines an unoptimized build has none for, and those would count as never run.

Exit status 1 when COVERAGE_STRICT=1 and a header is under the goal (COVERAGE_GOAL, 95)."""
import json
import os
import subprocess
import sys


def counts(gcda):
    """{source file: {line: count}} of one program, from gcov's JSON."""
    out = subprocess.run(["gcov", "--stdout", "--json-format", gcda], capture_output=True,
                         text=True, check=False).stdout
    got = {}
    for doc in out.splitlines():
        if not doc.startswith("{"):
            continue
        for f in json.loads(doc).get("files", []):
            lines = got.setdefault(os.path.basename(f["file"]), {})
            for ln in f["lines"]:
                lines[ln["line_number"]] = lines.get(ln["line_number"], 0) + ln["count"]
    return got


def add(merged, got, known_only=False):
    """Adds one program's counts to those of the headers in merged."""
    for src, lines in got.items():
        if src not in merged:
            continue
        for ln, c in lines.items():
            if not known_only or ln in merged[src]:
                merged[src][ln] = merged[src].get(ln, 0) + c


def parents(d, root):
    """d and each folder above it, up to root."""
    out = [d]
    while os.path.abspath(d) != os.path.abspath(root) and d not in ("", "/"):
        d = os.path.dirname(d)
        out.append(d)
    return out


def ranges(nums):
    out, start, prev = [], None, None
    for n in sorted(nums):
        if start is None:
            start = prev = n
        elif n == prev + 1:
            prev = n
        else:
            out.append(str(start) if start == prev else "%d-%d" % (start, prev))
            start = prev = n
    if start is not None:
        out.append(str(start) if start == prev else "%d-%d" % (start, prev))
    return out


def main():
    root, headers = sys.argv[1], sys.argv[2:]
    goal = float(os.environ.get("COVERAGE_GOAL", "95"))
    merged = {h: {} for h in headers}
    optimized = []
    n = 0
    for d, _, files in os.walk(root):
        opt = any(os.path.exists(os.path.join(p, "optimized"))
                  for p in parents(d, root))
        for f in files:
            if f.endswith(".gcda"):
                n += 1
                got = counts(os.path.join(d, f))
                if opt:
                    optimized.append(got)
                else:
                    add(merged, got)
    for got in optimized:
        add(merged, got, known_only=True)
    print("coverage: %d programs' counts" % n)
    under = 0
    for h in headers:
        lines = merged[h]
        run = sum(1 for c in lines.values() if c > 0)
        pct = 100.0 * run / len(lines) if lines else 0.0
        never = [ln for ln, c in lines.items() if c == 0]
        under += pct < goal
        print("%-14s %5d of %5d lines run: %5.1f%% (goal %.0f%%: %s)" %
              (h, run, len(lines), pct, goal, "met" if pct >= goal else "not met"))
        if never:
            print("  never run: " + ", ".join(ranges(never)))
    return 1 if under and os.environ.get("COVERAGE_STRICT") == "1" else 0


if __name__ == "__main__":
    sys.exit(main())
