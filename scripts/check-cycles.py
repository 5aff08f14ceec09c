#!/usr/bin/env python3
"""Fail when the C files of src/ depend on each other in a cycle.

The graph comes from the object files of a build: file A depends on file B
when A's object leaves a symbol undefined that B's object defines (nm).
Every strongly connected component of more than one file is a cycle; each
is printed with the symbols that tie it together, and the exit status is 1.

    scripts/check-cycles.py [BUILD_DIR]     (default: build)
    scripts/check-cycles.py --self-test     (checks the graph code itself)
"""
import contextlib
import json
import os
import subprocess
import sys
import tempfile


def strongly_connected(graph):
    """Tarjan's algorithm, iterative: the components of graph (node -> set
    of nodes), each a sorted list, in no particular order."""
    index, low, on_stack, stack, comps = {}, {}, set(), [], []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            pushed = False
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, ())))))
                    pushed = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if pushed:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    n = stack.pop()
                    on_stack.discard(n)
                    comp.append(n)
                    if n == node:
                        break
                comps.append(sorted(comp))
    return comps


def cycles(graph):
    """The components of more than one node, and single nodes that use
    themselves are not cycles (a file calling its own functions)."""
    return sorted(c for c in strongly_connected(graph) if len(c) > 1)


def symbols(obj):
    """(defined, undefined) global symbol names of one object file."""
    out = subprocess.run(["nm", "-P", obj], check=True, capture_output=True, text=True).stdout
    defined, undefined = set(), set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        name, kind = parts[0], parts[1]
        if kind in ("U", "w", "v"):
            undefined.add(name)
        elif kind.isupper():
            defined.add(name)
    return defined, undefined


TOP = os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def objects(build, top):
    """source file (relative to the top of the tree) -> object path, for
    every object compiled from a C or assembly file of src/."""
    with open(os.path.join(build, "compile_commands.json")) as f:
        entries = json.load(f)
    top = os.path.realpath(top)
    realbuild = os.path.realpath(build)
    found = {}
    for e in entries:
        src = os.path.realpath(os.path.join(e["directory"], e["file"]))
        obj = os.path.join(e["directory"], e["output"])
        # Sources generated into the build tree count as their src/ path.
        for base, label in ((top, ""), (realbuild, "build/")):
            rel = os.path.relpath(src, base)
            if rel.startswith("src" + os.sep):
                found[label + rel] = obj
                break
    return found


def source_dir(build):
    """The source tree build was configured from (meson-info), else the
    tree this script is in."""
    try:
        with open(os.path.join(build, "meson-info", "meson-info.json")) as f:
            return json.load(f)["directories"]["source"]
    except (OSError, KeyError, ValueError):
        return TOP


def dependency_graph(build, top=None):
    """file -> {file it uses: [symbols]}, from the objects of build."""
    objs = objects(build, top or source_dir(build))
    if not any(src.startswith("src/") for src in objs):
        sys.exit(f"check-cycles: no object of src/ in {build}/compile_commands.json")
    defs, uses = {}, {}
    for src, obj in objs.items():
        if not os.path.exists(obj):
            sys.exit(f"check-cycles: {obj} (from {src}) is missing: build first (ninja -C {build})")
        d, u = symbols(obj)
        uses[src] = u
        for name in d:
            defs.setdefault(name, set()).add(src)
    graph = {src: {} for src in objs}
    for src, used in uses.items():
        for name in used:
            for owner in defs.get(name, ()):
                if owner != src:
                    graph[src].setdefault(owner, []).append(name)
    return graph


def report(graph):
    """Print every cycle with the edges inside it; return how many."""
    found = cycles({n: set(e) for n, e in graph.items()})
    for comp in found:
        print(f"cycle of {len(comp)} files: {' '.join(comp)}")
        members = set(comp)
        for a in comp:
            for b in sorted(graph[a]):
                if b in members:
                    names = sorted(graph[a][b])
                    more = f" (+{len(names) - 3} more)" if len(names) > 3 else ""
                    print(f"  {a} -> {b}: {', '.join(names[:3])}{more}")
    return len(found)


def self_test():
    ok = True

    def expect(what, got, want):
        nonlocal ok
        if got != want:
            print(f"self-test FAILED: {what}: got {got}, want {want}")
            ok = False

    expect("empty", cycles({}), [])
    expect("chain", cycles({"a": {"b"}, "b": {"c"}, "c": set()}), [])
    expect("self loop", cycles({"a": {"a"}}), [])
    expect("pair", cycles({"a": {"b"}, "b": {"a"}}), [["a", "b"]])
    expect("two cycles and a bridge",
           cycles({"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": {"e"}, "e": {"d"}, "f": {"a"}}),
           [["a", "b", "c"], ["d", "e"]])
    expect("edge to unknown node", cycles({"a": {"x"}}), [])
    # A long chain closed at the end: one component, no recursion limit.
    n = 5000
    chain = {i: {i + 1} for i in range(n)}
    chain[n] = {0}
    expect("long ring", [len(c) for c in cycles(chain)], [n + 1])
    # The whole way from object files: a seeded cycle of two files (a.c and
    # b.c call each other), c.c above them, d.c only defining.
    with tempfile.TemporaryDirectory() as tmp:
        sources = {
            "a.c": "int b(void); int d(void); int a(void) { return b() + d(); }",
            "b.c": "int a(void); int b(void) { return a(); }",
            "c.c": "int a(void); int c(void) { return a(); }",
            "d.c": "int d_data = 1; int d(void) { return d_data; }",
        }
        os.makedirs(os.path.join(tmp, "src"))
        os.makedirs(os.path.join(tmp, "build"))
        entries = []
        for name, text in sources.items():
            with open(os.path.join(tmp, "src", name), "w") as f:
                f.write(text + "\n")
            obj = name + ".o"
            subprocess.run(["cc", "-c", "-o", os.path.join(tmp, "build", obj),
                            os.path.join(tmp, "src", name)], check=True)
            entries.append({"directory": os.path.join(tmp, "build"), "file": "../src/" + name,
                            "output": obj})
        with open(os.path.join(tmp, "build", "compile_commands.json"), "w") as f:
            json.dump(entries, f)
        graph = dependency_graph(os.path.join(tmp, "build"), tmp)
        expect("objects: edges of a.c", sorted(graph["src/a.c"]), ["src/b.c", "src/d.c"])
        expect("objects: edges of d.c", sorted(graph["src/d.c"]), [])
        expect("objects: cycles", cycles({n: set(e) for n, e in graph.items()}),
               [["src/a.c", "src/b.c"]])
        with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
            expect("objects: report", report(graph), 1)
    print("self-test: ok" if ok else "self-test: FAILED")
    return 0 if ok else 1


def main(argv):
    if argv[1:] == ["--self-test"]:
        return self_test()
    build = argv[1] if len(argv) > 1 else "build"
    graph = dependency_graph(build)
    n = report(graph)
    if n:
        print(f"check-cycles: {n} cycle(s) among the files of src/; "
              "move the shared piece into a module both use, or pass it in")
        return 1
    print(f"check-cycles: {len(graph)} files of src/, no cycle")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
