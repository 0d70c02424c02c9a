"""Static activation-memory planning: one arena, offsets from tensor lifetimes.

Greedy first fit: buffers taken in some order, each placed at the lowest aligned offset that
does not overlap any already placed buffer whose lifetime intersects its own. plan() tries
the orders of ORDERS and keeps the smallest arena (largest first is not always best: on the
VWW model, placing by first use saves 9 KB). A buffer lives from the operator that writes it
to the last operator that reads it (inclusive), so an operator's inputs and outputs never
share memory. live_peak() is the lower bound no placement beats.

plan_regions() does the same over several memories (a board's SRAM, then its core-coupled
RAM): a buffer goes to the first region where it fits below that region's limit.

Overlaps: {(source, dest): max_delta} lets an operator's output (dest) share memory with an
input that dies at that operator (source), as long as dest's offset is at most max_delta
above source's: a kernel that writes its output rows in order while it consumes its input
rows in order (native/stream.py computes the delta from the kernel's schedule). The arena
may then be below live_peak().
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


Overlaps = dict[tuple[int, int], int]


def _forbidden(b: Buffer, p: Buffer, off: int, overlaps: Overlaps) -> tuple[int, int]:
    """The open interval of offsets where b would clash with p placed at off (both alive at
    once): overlapping memory, less what an allowed overlap permits."""
    lo, hi = off - b.size, off + p.size
    if (p.key, b.key) in overlaps:  # b is the output that may start up to delta above p
        lo = max(lo, off + overlaps[(p.key, b.key)])
    elif (b.key, p.key) in overlaps:  # p is that output, b its input
        hi = min(hi, off - overlaps[(b.key, p.key)])
    return lo, hi


def _first_fit(b: Buffer, placed: list[tuple[Buffer, int]], alignment: int,
               overlaps: Overlaps | None = None) -> int:
    """The lowest aligned offset where b clashes with no placed buffer alive with it."""
    first, last, size = b.first, b.last, b.size
    if overlaps:
        bad = [_forbidden(b, p, off, overlaps) for p, off in placed if p.first <= last and first <= p.last]
    else:  # (the common case, inline: patched schedules place hundreds of buffers)
        bad = [(off - size, off + p.size) for p, off in placed if p.first <= last and first <= p.last]
    bad.sort()
    offset, moved = 0, True
    while moved:
        moved = False
        for lo, hi in bad:
            if lo < offset < hi:
                offset, moved = _align(hi, alignment), True
    return offset


# name -> sort key of the greedy placement order
ORDERS = {
    "largest first": lambda b: (-b.size, b.first, b.key),
    "first use": lambda b: (b.first, -b.size, b.key),
    "longest lived first": lambda b: (-(b.last - b.first), -b.size, b.key),
    "largest size x lifetime first": lambda b: (-b.size * (b.last - b.first + 1), b.key),
    # outputs before the inputs they may overlap (an overlap that starts below its input
    # needs the output placed first: FOMO-AD 0.35 at 96 px, 53,024 -> 45,888 B)
    "reverse first use": lambda b: (-b.first, -b.size, b.key),
}


def live_peak(buffers: list[Buffer]) -> tuple[int, int]:
    """(bytes, operator): the most bytes alive at one operator, a lower bound of any arena."""
    steps = {t for b in buffers for t in (b.first, b.last)}
    return max(((sum(b.size for b in buffers if b.first <= t <= b.last), t) for t in steps),
               default=(0, 0))


def plan_best(buffers: list[Buffer], alignment: int = 16,
              overlaps: Overlaps | None = None) -> tuple[dict[int, int], int, str]:
    """({key: offset}, arena_bytes, name of the order that gave it): the smallest of ORDERS."""
    best = None
    for name in ORDERS:
        placement, sizes = plan_regions(buffers, [None], alignment, order=name, overlaps=overlaps)
        if best is None or sizes[0] < best[1]:
            best = ({k: off for k, (_, off) in placement.items()}, sizes[0], name)
    return best


def plan(buffers: list[Buffer], alignment: int = 16) -> tuple[dict[int, int], int]:
    """Returns ({key: offset}, arena_bytes), the smallest arena of the orders tried."""
    offsets, arena, _ = plan_best(buffers, alignment)
    return offsets, arena


def plan_regions(buffers: list[Buffer], limits: list[int | None], alignment: int = 16,
                 order: str = "largest first",
                 overlaps: Overlaps | None = None) -> tuple[dict[int, tuple[int, int]], list[int]]:
    """Greedy over regions in the given order (a key of ORDERS): each buffer at the lowest
    offset of the first region where it ends within the region's limit (None: no limit; the
    last region should have none). Returns ({key: (region, offset)}, bytes used per region).
    ValueError if a buffer fits no region."""
    order = sorted(buffers, key=ORDERS[order])
    placed: list[list[tuple[Buffer, int]]] = [[] for _ in limits]
    placement: dict[int, tuple[int, int]] = {}
    for b in order:
        for region, limit in enumerate(limits):
            offset = _first_fit(b, placed[region], alignment, overlaps)
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


def check_plan(buffers: list[Buffer], offsets: dict[int, int], arena: int,
               overlaps: Overlaps | None = None) -> None:
    """Raise AssertionError if two buffers alive at the same time overlap in memory (beyond
    what an allowed overlap permits)."""
    overlaps = overlaps or {}
    for i, a in enumerate(buffers):
        oa = offsets[a.key]
        assert 0 <= oa and oa + a.size <= arena, f"buffer {a.key} outside the arena"
        for b in buffers[i + 1 :]:
            ob = offsets[b.key]
            if a.first <= b.last and b.first <= a.last:
                if oa + a.size <= ob or ob + b.size <= oa:
                    continue
                if (a.key, b.key) in overlaps:
                    assert ob - oa <= overlaps[(a.key, b.key)], f"buffer {b.key} too far into {a.key}"
                elif (b.key, a.key) in overlaps:
                    assert oa - ob <= overlaps[(b.key, a.key)], f"buffer {a.key} too far into {b.key}"
                else:
                    raise AssertionError(f"buffers {a.key} and {b.key} overlap")


def overlapping(buffers: list[Buffer], offsets: dict[int, int], overlaps: Overlaps) -> list[tuple[int, int, int]]:
    """(source, dest, dest offset - source offset) of the allowed overlaps the placement uses."""
    by_key = {b.key: b for b in buffers}
    used = []
    for (src, dst) in sorted(overlaps):
        if src in offsets and dst in offsets:
            d = offsets[dst] - offsets[src]
            if -by_key[dst].size < d < by_key[src].size:
                used.append((src, dst, d))
    return used
