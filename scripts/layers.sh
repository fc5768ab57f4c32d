#!/usr/bin/env bash
# The layer check: every module of src/ imports only from layers below its
# own, so no two rooms import each other, directly or in a circle.
#
# The layers are read from docs/architecture.md (the fenced block tagged
# `layers`, one layer a line, top first), so the page and the check cannot
# drift apart. A room is a top-level module of the crate (src/<room>.rs or
# src/<room>/); imports inside one room are not checked. An import is any
# `crate::<room>` path (in a `use` or inline, groups `crate::{a, b}`
# included) and any `super::` path that climbs out of its room; the binary
# (src/main.rs, src/cli/, src/sd_notify.rs) is checked for `edgecache::`.
#
#   scripts/layers.sh            # check; exit 1 on an upward import
#   scripts/layers.sh --graph    # also print which rooms each room imports
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 - "$@" <<'PY'
import os, re, sys

DOC = "docs/architecture.md"
graph = "--graph" in sys.argv[1:]

def fail(msg):
    print(f"layers: {msg}", file=sys.stderr)
    sys.exit(1)

# --- the declared layers ------------------------------------------------
text = open(DOC, encoding="utf-8").read()
m = re.search(r"^```layers\n(.*?)^```", text, re.S | re.M)
if not m:
    fail(f"{DOC} has no ```layers block")
layer_of, layers = {}, []
for line in m.group(1).splitlines():
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    rooms = line.split()
    for r in rooms:
        if r in layer_of:
            fail(f"{DOC}: room `{r}` is declared twice")
        layer_of[r] = len(layers)
    layers.append(rooms)

# --- the rooms that exist -----------------------------------------------
BIN_ROOMS = {"main", "cli", "sd_notify"}
def room_and_path(path):
    rel = os.path.relpath(path, "src")[:-3].split(os.sep)
    if rel[-1] == "mod":
        rel = rel[:-1]
    if rel == ["lib"]:
        return None, []
    return rel[0], rel

def strip(src):
    src = re.sub(r"//[^\n]*", "", src)
    src = re.sub(r"/\*.*?\*/", "", src, flags=re.S)
    src = re.sub(r"'(\\.|[^'\\\n])'", "' '", src)
    return re.sub(r'"(\\.|[^"\\])*"', '""', src)

def top_names(group):
    """`{a::b, c, d::{e, f}}` -> a, c, d"""
    names, depth, cur = [], 0, ""
    for ch in group[1:-1]:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == "," and depth == 0:
            names.append(cur)
            cur = ""
            continue
        if depth == 0:
            cur += ch
    names.append(cur)
    return [n.strip().split("::")[0].strip() for n in names if n.strip()]

def brace_group(src, i):
    depth = 0
    for j in range(i, len(src)):
        if src[j] == "{":
            depth += 1
        elif src[j] == "}":
            depth -= 1
            if depth == 0:
                return src[i : j + 1]
    return src[i:]

files = []
for d, _, names in os.walk("src"):
    files += [os.path.join(d, n) for n in names if n.endswith(".rs")]
files.sort()

undeclared = set()
edges = {}
errors = []
checked = 0
for path in files:
    room, modpath = room_and_path(path)
    if room is None:
        continue
    if room not in layer_of:
        undeclared.add(room)
        continue
    src = strip(open(path, encoding="utf-8").read())
    roots = ["edgecache"] if room in BIN_ROOMS else ["crate"]
    targets = []  # (room, line)
    for root in roots:
        for mm in re.finditer(r"\b" + root + r"::(\{|\w+)", src):
            line = src.count("\n", 0, mm.start()) + 1
            if mm.group(1) == "{":
                for n in top_names(brace_group(src, mm.end() - 1)):
                    targets.append((n, line))
            else:
                targets.append((mm.group(1), line))
    # `super::` that climbs out of the room reaches another room.
    for mm in re.finditer(r"\b((?:super::)+)(\{|\w+)", src):
        ups = mm.group(1).count("super::")
        if room in BIN_ROOMS:
            continue
        # A file's own module is modpath; `super` is its parent.
        if len(modpath) - ups <= 0:
            line = src.count("\n", 0, mm.start()) + 1
            if mm.group(2) == "{":
                names = top_names(brace_group(src, mm.end() - 1))
            else:
                names = [mm.group(2)]
            targets += [(n, line) for n in names]
    for t, line in targets:
        if t in ("self", "super", "crate") or t == room:
            continue
        if t not in layer_of:
            continue  # an item of lib.rs itself, not a room
        checked += 1
        edges.setdefault(room, set()).add(t)
        if layer_of[t] <= layer_of[room]:
            how = "the same layer" if layer_of[t] == layer_of[room] else "a layer above"
            errors.append(
                f"{path}:{line}: `{room}` (layer {layer_of[room] + 1}) imports "
                f"`{t}` (layer {layer_of[t] + 1}), {how}"
            )

declared_missing = [r for r in layer_of if r not in BIN_ROOMS and not (
    os.path.exists(f"src/{r}.rs") or os.path.isdir(f"src/{r}"))]
if undeclared:
    errors.append(f"rooms not declared in {DOC}: {', '.join(sorted(undeclared))}")
if declared_missing:
    errors.append(f"declared in {DOC} but not in src/: {', '.join(declared_missing)}")

for i, rooms in enumerate(layers):
    line = f"  {i + 1:2}  {' '.join(rooms)}"
    if graph:
        deps = sorted({t for r in rooms for t in edges.get(r, ())}, key=lambda t: layer_of[t])
        line += f"   -> {' '.join(deps) if deps else '(nothing)'}"
    print(line)
if errors:
    for e in errors:
        print(f"layers: {e}", file=sys.stderr)
    print(f"layers: FAILED: {len(errors)} upward or undeclared import(s)", file=sys.stderr)
    sys.exit(1)
print(f"layers: ok: {len(files)} files, {checked} imports between rooms, all downward")
PY
