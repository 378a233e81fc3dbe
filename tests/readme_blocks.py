#!/usr/bin/env python3
"""Writes README.md's code blocks into a folder, one file each, named by what the suite does
with them (tests/run.sh, the readme variant):

    NN.prog.c / NN.prog.cpp   a whole program (it has main): built and run
    NN.unit.c                 a translation unit (it starts with # lines): compiled
    NN.body.c                 statements: compiled as the body of main
    NN.run.sh                 shell commands under <!-- readme-test: run -->: run from a copy
                              of the repository

    python3 tests/readme_blocks.py README.md OUTDIR
"""
import os
import re
import sys

FENCE = re.compile(r"^```(\w*)\s*$")


def blocks(lines):
    """(language, text, marked to run) of each fenced block."""
    lang, body, marked, run_next = None, [], False, False
    for line in lines:
        if lang is None:
            m = FENCE.match(line)
            if m and m.group(1):
                lang, body, marked = m.group(1), [], run_next
            run_next = line.strip() == "<!-- readme-test: run -->" or (run_next and not line.strip())
            continue
        if line.rstrip() == "```":
            yield lang, "".join(body), marked
            lang = None
            continue
        body.append(line)


def kind(lang, text):
    if re.search(r"^\s*int\s+main\s*\(", text, re.M):
        return "prog"
    if re.match(r"\s*(#|//|/\*)", text):
        return "unit"
    return "body"


def main():
    src, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    with open(src, encoding="utf-8") as f:
        lines = f.readlines()
    n = 0
    for lang, text, marked in blocks(lines):
        n += 1
        if lang in ("c", "cpp"):
            name = "%02d.%s.%s" % (n, kind(lang, text), lang)
        elif lang == "sh" and marked:
            name = "%02d.run.sh" % n
        else:
            continue
        with open(os.path.join(out, name), "w", encoding="utf-8") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
