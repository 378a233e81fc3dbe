#!/usr/bin/env python3
"""Checks that each header's CONTENTS list and its section banners agree, name for name and in
order, and that every banner of an implementation opens with text saying what the section
owns. Prints a PASS or FAIL line a header (run by tests/run.sh, variant readme).

    tests/contents.py unidist.h unidist_mpi.h unidist_shm.h
"""
import re
import sys


def contents(lines):
    """The names the CONTENTS list holds: its entries are indented five spaces, the name ends
    where two spaces begin."""
    start = next((i for i, l in enumerate(lines) if l.startswith('   CONTENTS')), None)
    if start is None:
        return None
    names = []
    for l in lines[start + 1:]:
        if l.startswith('*/') or not l.strip():
            break
        if l.startswith('     ') and not l.startswith('      '):
            names.append(re.split(r'\s{2,}', l.strip())[0])
    return names


def banners(lines):
    """(name, line number, has text) of every '/* ---- name ----' banner."""
    out = []
    for i, l in enumerate(lines):
        m = re.match(r'^/\* ---- (.*?) -+( \*/)?$', l)
        if m:
            out.append((m.group(1), i + 1, m.group(2) is None))
    return out


def check(path):
    lines = open(path, encoding='utf-8').read().split('\n')
    listed, found = contents(lines), banners(lines)
    impl = next((i for i, l in enumerate(lines) if re.match(r'#if defined\(UD_\w*IMPLEMENTATION\)', l)), 0)
    problems = []
    if listed is None:
        problems.append('no CONTENTS list in its opening comment')
    elif listed != [b[0] for b in found]:
        names = [b[0] for b in found]
        for k in range(max(len(listed), len(names))):
            a = listed[k] if k < len(listed) else '(none)'
            b = names[k] if k < len(names) else '(none)'
            if a != b:
                problems.append('entry %d: CONTENTS says "%s", the banner says "%s"' % (k + 1, a, b))
                break
    for name, line, has_text in found:
        if line > impl and not has_text:
            problems.append('section "%s" (line %d) does not say what it owns' % (name, line))
    return problems


def main():
    failed = 0
    for path in sys.argv[1:]:
        problems = check(path)
        if problems:
            failed += 1
            for p in problems:
                print('  %s: %s' % (path, p))
            print('FAIL %s: CONTENTS and banners agree' % path)
        else:
            print('PASS %s: CONTENTS and banners agree' % path)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
