#!/usr/bin/env python3
"""Checks the architecture of src/: every module imports only its own layer or lower ones,
the module import graph has no cycle, and no file is longer than MAX_LINES.

    python3 scripts/layers.py            # report; exit 1 on any violation
    python3 scripts/layers.py --graph    # also print every edge

A module is a file under src/ (src/store/mod.rs is `store`, src/store/rows.rs is
`store::rows`). Its imports are the `crate::a::b` paths it names (in `use` lines or inline),
resolved to the longest module prefix that exists. Test-only files (tests.rs, testing.rs,
*_tests.rs) are left out: tests may reach anything.
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
MAX_LINES = 620

# Top to bottom. A module belongs to the first layer with a prefix matching it.
LAYERS = [
    ("sql surface and worker", ["sql", "worker", "lib", "args", "fallthrough"]),
    ("transaction glue", ["xact", "replication"]),
    ("store", ["store", "sql_text"]),
    ("definitions", ["catalog"]),
    ("shared region", ["shmem"]),
    ("key typing and helpers", ["keys", "bound", "guard", "spi", "guc", "error"]),
]

TEST_FILE = re.compile(r"(^|/)(tests|testing)\.rs$|_tests\.rs$")


def module_of(path):
    rel = os.path.relpath(path, ROOT)[:-3]
    parts = rel.split(os.sep)
    if parts[-1] == "mod":
        parts = parts[:-1]
    return "::".join(parts)


def layer_of(module):
    top = module.split("::")[0]
    for i, (_, prefixes) in enumerate(LAYERS):
        if top in prefixes:
            return i
    return None


def main():
    files = {}
    for d, _, names in os.walk(ROOT):
        for n in names:
            if n.endswith(".rs"):
                p = os.path.join(d, n)
                files[module_of(p)] = p
    modules = set(files)
    problems = []
    edges = {}
    for m, p in sorted(files.items()):
        text = open(p).read()
        lines = text.count("\n")
        if lines > MAX_LINES:
            problems.append("%s: %d lines (at most %d)" % (os.path.relpath(p, ROOT), lines, MAX_LINES))
        if TEST_FILE.search(p):
            continue
        # drop everything from the first in-file test module on
        text = re.split(r"#\[cfg\(any\(test, feature = \"pg_test\"\)\)\]\s*#\[pg_schema\]", text)[0]
        targets = set()
        for path in re.findall(r"crate::((?:[a-z_][a-z0-9_]*::)*[a-z_][a-z0-9_]*)", text):
            parts = path.split("::")
            for k in range(len(parts), 0, -1):
                cand = "::".join(parts[:k])
                if cand in modules:
                    if cand != m and not m.startswith(cand + "::") and not cand.startswith(m + "::"):
                        targets.add(cand)
                    break
        # `use crate::x::{a, b}` groups
        for head, group in re.findall(r"crate::([a-z_:]+)::\{([^}]*)\}", text):
            for item in group.split(","):
                item = item.strip().split(" ")[0].split("::")[0]
                cand = head.rstrip(":") + "::" + item
                if cand in modules and cand != m:
                    targets.add(cand)
        edges[m] = targets
    for m, ts in sorted(edges.items()):
        lm = layer_of(m)
        if lm is None:
            problems.append("%s: in no layer (add it to LAYERS)" % m)
            continue
        for t in sorted(ts):
            lt = layer_of(t)
            if lt is not None and lt < lm:
                problems.append("%s (%s) imports %s (%s): upward" % (m, LAYERS[lm][0], t, LAYERS[lt][0]))
    # cycles between modules
    state = {}
    stack = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for t in sorted(edges.get(m, ())):
            if state.get(t) == 1:
                problems.append("cycle: " + " -> ".join(stack[stack.index(t):] + [t]))
            elif t in edges and state.get(t) is None:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if state.get(m) is None:
            visit(m)
    if "--graph" in sys.argv:
        for m, ts in sorted(edges.items()):
            print("%-22s -> %s" % (m, ", ".join(sorted(ts))))
    for p in problems:
        print("layers: " + p)
    print("layers: %d modules, %d imports, %d problems" % (len(edges), sum(len(t) for t in edges.values()), len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
