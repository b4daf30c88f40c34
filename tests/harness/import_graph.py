"""The file-level import graph of a Rust crate (`crate::` and `super::` paths, and a
module file's uses of its own children), and its cycles: the layout rule is that a
module file wires its children and no child imports its parent back."""

from __future__ import annotations

import re
import sys
from pathlib import Path

Module = tuple[str, ...]


def modules(src: Path) -> dict[Module, Path]:
    out = {}
    for f in src.rglob("*.rs"):
        parts = list(f.relative_to(src).with_suffix("").parts)
        if parts[-1] in ("mod", "lib", "main"):
            parts = parts[:-1]
        out[tuple(parts)] = f
    return out


def edges(src: Path) -> dict[Module, set[Module]]:
    files = modules(src)

    def resolve(path: list[str]) -> Module | None:
        for i in range(len(path), -1, -1):  # the longest prefix that is a module file
            if tuple(path[:i]) in files:
                return tuple(path[:i])
        return None

    graph: dict[Module, set[Module]] = {m: set() for m in files}
    for mod, f in files.items():
        text = f.read_text()
        # Inline test modules and comments do not count.
        text = re.sub(r"#\[cfg\(test\)\]\s*(pub(\([a-z]+\))?\s+)?mod \w+\s*\{.*", "", text, flags=re.S)
        text = re.sub(r"//[^\n]*", "", text)
        for m in re.finditer(r"\b(crate|super)((?:::(?:\{\s*)?(?:[A-Za-z_][A-Za-z0-9_]*|\*))+)", text):
            kind, rest = m.group(1), m.group(2)
            segs = [s.lstrip("{").strip() for s in rest.split("::") if s and s != "*"]
            base: list[str] = []
            if kind == "super":
                base = list(mod)[:-1]
                while segs and segs[0] == "super":
                    base, segs = base[:-1], segs[1:]
            target = resolve(base + segs)
            if target is not None and target != mod:
                graph[mod].add(target)
        for child in re.findall(r"^\s*(?:pub(?:\([a-z]+\))?\s+)?mod\s+([a-z_0-9]+)\s*;", text, flags=re.M):
            if re.search(r"(?<![:\w])(?:self::)?" + child + r"::", text):
                target = resolve(list(mod) + [child])
                if target and target != mod:
                    graph[mod].add(target)
    return graph


def cycles(src: Path) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    graph = edges(src)
    index: dict[Module, int] = {}
    low: dict[Module, int] = {}
    stack: list[Module] = []
    on: set[Module] = set()
    found: list[list[str]] = []
    sys.setrecursionlimit(10_000)

    def visit(v: Module) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append("/".join(w) or "<root>")
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return found


if __name__ == "__main__":
    for crate in sys.argv[1:]:
        print(crate, cycles(Path(crate)))
