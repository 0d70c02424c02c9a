"""Static activation-memory planning: one arena, offsets from tensor lifetimes.

Greedy first fit: buffers taken in some order, each placed at the lowest aligned offset that
does not overlap any already placed buffer whose lifetime intersects its own. plan() tries
the orders of ORDERS and keeps the smallest arena (largest first is not always best: on the
VWW model, placing by first use saves 9 KB). A buffer lives from the operator that writes it
to the last operator that reads it (inclusive), so an operator's inputs and outputs never
share memory. live_peak() is the lower bound no placement beats.

plan_regions() does the same over several memories (a board's SRAM, then its core-coupled
RAM): a buffer goes to the first region where it fits below that region's limit.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Buffer:
    key: int  # caller's id (root tensor index)
    size: int  # bytes
    first: int  # first operator index using it
    last: int  # last operator index using it (inclusive)


def _align(x: int, a: int) -> int:
    return (x + a - 1) // a * a


def _first_fit(b: Buffer, placed: list[tuple[Buffer, int]], alignment: int) -> int:
    """The lowest aligned offset where b overlaps no placed buffer alive with it."""
    live = sorted((off, off + p.size) for p, off in placed if p.first <= b.last and b.first <= p.last)
    offset = 0
    for start, end in live:
        if offset + b.size <= start:
            break
        offset = max(offset, _align(end, alignment))
    return offset


# name -> sort key of the greedy placement order
ORDERS = {
    "largest first": lambda b: (-b.size, b.first, b.key),
    "first use": lambda b: (b.first, -b.size, b.key),
    "longest lived first": lambda b: (-(b.last - b.first), -b.size, b.key),
    "largest size x lifetime first": lambda b: (-b.size * (b.last - b.first + 1), b.key),
}


def live_peak(buffers: list[Buffer]) -> tuple[int, int]:
    """(bytes, operator): the most bytes alive at one operator, a lower bound of any arena."""
    steps = {t for b in buffers for t in (b.first, b.last)}
    return max(((sum(b.size for b in buffers if b.first <= t <= b.last), t) for t in steps),
               default=(0, 0))


def plan_best(buffers: list[Buffer], alignment: int = 16) -> tuple[dict[int, int], int, str]:
    """({key: offset}, arena_bytes, name of the order that gave it): the smallest of ORDERS."""
    best = None
    for name in ORDERS:
        placement, sizes = plan_regions(buffers, [None], alignment, order=name)
        if best is None or sizes[0] < best[1]:
            best = ({k: off for k, (_, off) in placement.items()}, sizes[0], name)
    return best


def plan(buffers: list[Buffer], alignment: int = 16) -> tuple[dict[int, int], int]:
    """Returns ({key: offset}, arena_bytes), the smallest arena of the orders tried."""
    offsets, arena, _ = plan_best(buffers, alignment)
    return offsets, arena


def plan_regions(buffers: list[Buffer], limits: list[int | None], alignment: int = 16,
                 order: str = "largest first") -> tuple[dict[int, tuple[int, int]], list[int]]:
    """Greedy over regions in the given order (a key of ORDERS): each buffer at the lowest
    offset of the first region where it ends within the region's limit (None: no limit; the
    last region should have none). Returns ({key: (region, offset)}, bytes used per region).
    ValueError if a buffer fits no region."""
    order = sorted(buffers, key=ORDERS[order])
    placed: list[list[tuple[Buffer, int]]] = [[] for _ in limits]
    placement: dict[int, tuple[int, int]] = {}
    for b in order:
        for region, limit in enumerate(limits):
            offset = _first_fit(b, placed[region], alignment)
            if limit is None or offset + b.size <= limit:
                placement[b.key] = (region, offset)
                placed[region].append((b, offset))
                break
        else:
            raise ValueError(f"a buffer of {b.size} bytes fits no region (limits {limits})")
    sizes = []
    for region in range(len(limits)):
        top = max((off + b.size for b, off in placed[region]), default=0)
        sizes.append(_align(top, alignment) if top else 0)
    return placement, sizes


def check_plan(buffers: list[Buffer], offsets: dict[int, int], arena: int) -> None:
    """Raise AssertionError if two buffers alive at the same time overlap in memory."""
    for i, a in enumerate(buffers):
        oa = offsets[a.key]
        assert 0 <= oa and oa + a.size <= arena, f"buffer {a.key} outside the arena"
        for b in buffers[i + 1 :]:
            ob = offsets[b.key]
            if a.first <= b.last and b.first <= a.last:
                assert oa + a.size <= ob or ob + b.size <= oa, f"buffers {a.key} and {b.key} overlap"
