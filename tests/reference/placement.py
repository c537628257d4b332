"""Reference implementation of arcroute's placement spec, ring version 1, in Python.

Written from the "Placement spec" section of the crate docs alone, it rebuilds every line of
the golden vectors (ids from names, the points of each fleet, arc starts, arcs, arcs with a
manager down, and reserved arcs with their environment split) from the line's inputs and
compares the text byte for byte. It exits non-zero on any mismatch and on any line kind it
does not know, so that no vector goes unchecked.

Needs Python 3.11 and the `xxhash` package (`pip install xxhash`). Run from the repository
root:

    python3 tests/reference/placement.py [GOLDEN_FILE]

GOLDEN_FILE defaults to tests/data/golden_v1.txt.
"""

import sys
from pathlib import Path

import xxhash

DEFAULT_GOLDEN = Path(__file__).resolve().parent.parent / "data" / "golden_v1.txt"

# Default sizing of reserved arcs (AssignConfig::default()).
RESERVED_PER_MANAGER = 16
MIN_RESERVED_ARC = 2


def xxh64(data: bytes, seed: int = 0) -> int:
    return xxhash.xxh3_64_intdigest(data, seed=seed)


def xxh128(data: bytes) -> int:
    # The integer whose big-endian bytes are XXH3-128's canonical output.
    return int.from_bytes(xxhash.xxh3_128_digest(data, seed=0), "big")


def u32le(n: int) -> bytes:
    return n.to_bytes(4, "little")


def u64le(n: int) -> bytes:
    return n.to_bytes(8, "little")


def u128le(n: int) -> bytes:
    return n.to_bytes(16, "little")


def manager_id(name: str) -> int:
    return xxh64(b"arcroute:manager:" + name.encode())


def task_id(name: bytes) -> int:
    return xxh128(b"arcroute:task:" + name)


def reserved_start(task: int, seed: int) -> int:
    return xxh64(b"arcroute:v1:reserved:" + u128le(task), seed)


def unreserved_start(group: int, seed: int) -> int:
    return xxh64(b"arcroute:v1:unreserved:" + u128le(group), seed)


class Ring:
    def __init__(self, managers: dict[int, int], seed: int, vnodes: int):
        self.managers = managers
        self.seed = seed
        points = [
            (xxh64(b"arcroute:v1:point:" + u64le(m) + u32le(i), seed), m, i)
            for m, weight in managers.items()
            for i in range(weight * vnodes)
        ]
        points.sort()  # by (position, manager id, i)
        self.points = [(pos, m) for pos, m, _ in points]

    def arc(self, start: int, length: int, down: frozenset[int] = frozenset()) -> list[int]:
        n = len(self.points)
        first = next((k for k, (pos, _) in enumerate(self.points) if pos >= start), 0)
        seen: set[int] = set()
        arc: list[int] = []
        for step in range(n):  # at most one revolution
            if len(arc) == length:
                break
            m = self.points[(first + step) % n][1]
            if m not in seen:
                seen.add(m)
                if m not in down:
                    arc.append(m)
        return arc


def reserved_len(limit: int, ready: int, healthy: int) -> int:
    if limit == 0 and ready == 0:
        return 0
    wanted = -(-max(limit, ready) // RESERVED_PER_MANAGER)
    return min(max(wanted, MIN_RESERVED_ARC), healthy)


def environments_at(limit: int, length: int, slot: int) -> int:
    return limit // length + (1 if slot < limit % length else 0)


def hexes(ids: list[int]) -> str:
    return " ".join(f"{m:x}" for m in ids)


def check(lines: list[str]) -> tuple[int, list[str]]:
    """Recomputes every vector line; returns how many were checked and the errors."""
    managers: dict[int, int] = {}  # id -> weight, from the `manager` lines so far
    ring: Ring | None = None
    next_point = 0
    checked, errors = 0, []

    def end_of_ring(n: int) -> None:
        if ring is not None and next_point != len(ring.points):
            errors.append(f"line {n}: ring has {len(ring.points)} points, file lists {next_point}")

    for n, line in enumerate(lines, 1):
        if line.startswith("#"):
            continue
        kind, *f = line.split(" ")
        try:
            if kind == "manager":
                name, weight = f[0], int(f[2])
                managers[manager_id(name)] = weight
                want = f"manager {name} {manager_id(name):x} {weight}"
            elif kind == "task":
                name = b"" if f[0] == "-" else bytes.fromhex(f[0])
                want = f"task {f[0]} {task_id(name):x}"
            elif kind == "ring":
                end_of_ring(n)
                ring, next_point = Ring(managers, int(f[0], 16), int(f[1])), 0
                want = f"ring {ring.seed:x} {f[1]} {len(ring.points)}"
            elif kind == "point":
                pos, m = ring.points[next_point]
                want = f"point {next_point} {pos:x} {m:x}"
                next_point += 1
            elif kind == "start":
                task = int(f[0], 16)  # the default group of a task is the task's value
                r, u = reserved_start(task, ring.seed), unreserved_start(task, ring.seed)
                want = f"start {task:x} {r:x} {u:x}"
            elif kind == "arc":
                start = int(f[0], 16)
                want = f"arc {start:x} {hexes(ring.arc(start, len(ring.managers)))}"
            elif kind == "arc_down":
                start, down = int(f[0], 16), int(f[1], 16)
                if down not in ring.managers:
                    raise ValueError(f"{down:x} is not on the ring")
                arc = ring.arc(start, len(ring.managers), frozenset([down]))
                want = f"arc_down {start:x} {down:x} {hexes(arc)}"
            elif kind == "reserved":
                task, limit, ready = int(f[0], 16), int(f[1]), int(f[2])
                length = reserved_len(limit, ready, len(ring.managers))
                arc = ring.arc(reserved_start(task, ring.seed), length)
                slots = " ".join(
                    f"{m:x}:{environments_at(limit, length, k)}" for k, m in enumerate(arc)
                )
                want = f"reserved {task:x} {limit} {ready} {length} {slots}"
            else:
                errors.append(f"line {n}: unknown line kind {kind!r}")
                continue
        except (IndexError, ValueError, AttributeError) as e:
            errors.append(f"line {n}: cannot read {line!r}: {e}")
            continue
        checked += 1
        if want != line:
            errors.append(f"line {n}:\n  file:     {line}\n  computed: {want}")
    end_of_ring(len(lines) + 1)
    return checked, errors


def main() -> int:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_GOLDEN
    checked, errors = check(path.read_text(encoding="utf-8").splitlines())
    for error in errors:
        print(error, file=sys.stderr)
    print(f"checked {checked} lines, {len(errors)} mismatches")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
