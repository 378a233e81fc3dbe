#!/usr/bin/env python3
"""Builds the single-file unidist.h from the module headers.

    python3 amalgamate.py [-o build/single/unidist.h] [--line] [--release]
    python3 amalgamate.py --check PATH              exit 1 when PATH is stale

--release (what `make dist` writes to build/dist/unidist.h) puts the usage and the text of
LICENSE in the opening comment, so that the file can travel alone.

The modules go in a fixed order (a missing one is skipped). Each #include "unidist*.h" is
inlined the first time and commented out after; <system> includes stay where they are, since
some sit inside #if blocks. The output is deterministic: the same sources give the same bytes.
"""
import argparse
import os
import re
import sys

# (module, the macro a program defines to compile it from the single file). The MPI modules
# need <mpi.h> and an MPI compiler, so a program without MPI must not get them by default.
MODULES = [
    ("unidist.h", None),
    ("unidist_shm.h", "UD_ENABLE_MPI"),
    ("unidist_mpi.h", "UD_ENABLE_MPI"),
]
DEFAULT_OUT = os.path.join("build", "single", "unidist.h")

INCLUDE_RE = re.compile(r'^\s*#\s*include\s*"(unidist[A-Za-z0-9_]*\.h)"')
VERSION_RE = re.compile(r'^\s*#\s*define\s+UD_VERSION_STRING\s+"([^"]*)"', re.M)


def ends_in_comment(line, in_comment):
    """Whether a block comment is still open after line (strings and // are honoured)."""
    i, n = 0, len(line)
    quote = None
    while i < n:
        c = line[i]
        if in_comment:
            if line.startswith("*/", i):
                in_comment = False
                i += 2
                continue
        elif quote:
            if c == "\\":
                i += 2
                continue
            if c == quote:
                quote = None
        elif c in "\"'":
            quote = c
        elif line.startswith("/*", i):
            in_comment = True
            i += 2
            continue
        elif line.startswith("//", i):
            break
        i += 1
    return in_comment


# The second line of a release build's opening comment; --check knows one by it.
RELEASE_MARK = "   Release build"


class Amalgamator:
    def __init__(self, root, line_directives, release=False):
        self.root = root
        self.line_directives = line_directives
        self.release = release
        self.done = set()
        self.out = []

    def read(self, name):
        with open(os.path.join(self.root, name), encoding="utf-8") as f:
            return f.read().splitlines()

    def line_marker(self, number, name):
        if self.line_directives:
            self.out.append('#line %d "%s"' % (number, name))

    def module(self, name, guard=None):
        """Appends one module, inlining the unidist headers it includes the first time."""
        self.done.add(name)
        self.out.append("/* ==== begin %s ==== */" % name)
        if guard:
            self.out.append("#if defined(%s)" % guard)
        self.line_marker(1, name)
        in_comment = False
        for number, line in enumerate(self.read(name), start=1):
            match = None if in_comment else INCLUDE_RE.match(line)
            in_comment = ends_in_comment(line, in_comment)
            if not match:
                self.out.append(line)
                continue
            target = match.group(1)
            if target in self.done:
                self.out.append('/* #include "%s": inlined above */' % target)
                continue
            if not os.path.exists(os.path.join(self.root, target)):
                sys.exit("amalgamate: %s:%d includes %s, which does not exist"
                         % (name, number, target))
            self.out.append('/* #include "%s": inlined below */' % target)
            self.module(target)
            self.line_marker(number + 1, name)
        if guard:
            self.out.append("#endif /* %s */" % guard)
        self.out.append("/* ==== end %s ==== */" % name)

    def release_notes(self):
        """The usage, and LICENSE's text, for a file that travels without the rest."""
        with open(os.path.join(self.root, "LICENSE"), encoding="utf-8") as f:
            license_text = f.read().splitlines()
        if any("*/" in line for line in license_text):
            sys.exit("amalgamate: LICENSE holds */, which would end the comment")
        notes = [
            "",
            "   USAGE",
            "     In exactly one C or C++ file:",
            "         #define UNIDIST_IMPLEMENTATION",
            "         #include \"unidist.h\"",
            "     Everywhere else just #include \"unidist.h\". Build with -std=gnu11 (or -std=c11",
            "     and -D_POSIX_C_SOURCE=200809L; C++11 or later for a .cpp) and -pthread; the",
            "     implementation needs xxhash.h 0.8 or later (header-only use). The MPI backend:",
            "     #define UD_ENABLE_MPI before every #include of this file, build with the MPI's",
            "     compiler (mpicc, or mpicxx), and give every rank MPI_THREAD_FUNNELED or more.",
            "",
            "   LICENSE (the file LICENSE of unidist for C)",
        ]
        notes += [("   " + line).rstrip() for line in license_text]
        return notes

    def build(self):
        present = [(m, g) for m, g in MODULES if os.path.exists(os.path.join(self.root, m))]
        names = [m for m, _ in present]
        if "unidist.h" not in names:
            sys.exit("amalgamate: unidist.h not found in %s" % self.root)
        text = "\n".join(self.read("unidist.h"))
        version = VERSION_RE.search(text)
        if not version:
            sys.exit("amalgamate: no UD_VERSION_STRING in unidist.h")
        self.out = [
            "/* unidist.h - v%s - single-file build of unidist for C - Apache-2.0"
            % version.group(1),
        ]
        if self.release:
            self.out.append(RELEASE_MARK + " (amalgamate.py --release) of %s;" % ", ".join(names))
            self.out.append("   do not edit: change the modules and run `make dist`.")
        else:
            self.out.append("   Generated by amalgamate.py from %s; do not edit:" % ", ".join(names))
            self.out.append("   change the modules and run `make amalgamate`.")
        for name, guard in present:
            if guard:
                self.out.append("   %s is compiled only where %s is defined before the #include."
                                % (name, guard))
        if self.release:
            self.out += self.release_notes()
        self.out[-1] += " */"
        # lets the modules speak of this file rather than of their own names in messages
        self.out += ["#ifndef UD__SINGLE_FILE", "#define UD__SINGLE_FILE 1", "#endif"]
        for name, guard in present:
            if name not in self.done:
                self.module(name, guard)
        return "\n".join(self.out) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default=None,
                        help="where to write (default %s)" % DEFAULT_OUT)
    parser.add_argument("--check", metavar="PATH",
                        help="write nothing; exit 1 when PATH differs from the output")
    parser.add_argument("--line", action="store_true",
                        help="emit #line directives that point into the modules")
    parser.add_argument("--release", action="store_true",
                        help="put the usage and LICENSE's text at the top (make dist)")
    parser.add_argument("--root", default=os.path.dirname(os.path.abspath(__file__)),
                        help="folder holding the modules (default: this script's)")
    args = parser.parse_args()

    if args.check:
        try:
            with open(args.check, encoding="utf-8") as f:
                current = f.read()
        except OSError:
            current = None
        # A file built with --line is checked as one: the flag need not be repeated.
        line = args.line or bool(current and re.search(r"^#line 1 ", current, re.M))
        release = args.release or bool(current and current.split("\n")[1:2] and
                                       current.split("\n")[1].startswith(RELEASE_MARK))
        if current != Amalgamator(args.root, line, release).build():
            print("amalgamate: %s is %s; run `make %s`"
                  % (args.check, "missing" if current is None else "stale",
                     "dist" if release else "amalgamate"), file=sys.stderr)
            return 1
        return 0

    text = Amalgamator(args.root, args.line, args.release).build()
    out = args.output or os.path.join(args.root, DEFAULT_OUT)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tmp = out + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    os.replace(tmp, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
