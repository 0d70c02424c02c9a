"""Static activation-memory planning: one arena, offsets from tensor lifetimes.

Greedy by size (largest first), each buffer placed at the lowest aligned offset that
does not overlap any already placed buffer whose lifetime intersects its own. A buffer
lives from the operator that writes it to the last operator that reads it (inclusive),
so an operator's inputs and outputs never share memory.
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


def plan(buffers: list[Buffer], alignment: int = 16) -> tuple[dict[int, int], int]:
    """Returns ({key: offset}, arena_bytes)."""
    order = sorted(buffers, key=lambda b: (-b.size, b.first, b.key))
    placed: list[tuple[Buffer, int]] = []
    offsets: dict[int, int] = {}
    for b in order:
        live = sorted(
            ((off, off + p.size) for p, off in placed if p.first <= b.last and b.first <= p.last),
        )
        offset = 0
        for start, end in live:
            if offset + b.size <= start:
                break
            offset = max(offset, _align(end, alignment))
        offsets[b.key] = offset
        placed.append((b, offset))
    arena = max((offsets[b.key] + b.size for b in buffers), default=0)
    return offsets, _align(arena, alignment) if arena else 0


def check_plan(buffers: list[Buffer], offsets: dict[int, int], arena: int) -> None:
    """Raise AssertionError if two buffers alive at the same time overlap in memory."""
    for i, a in enumerate(buffers):
        oa = offsets[a.key]
        assert 0 <= oa and oa + a.size <= arena, f"buffer {a.key} outside the arena"
        for b in buffers[i + 1 :]:
            ob = offsets[b.key]
            if a.first <= b.last and b.first <= a.last:
                assert oa + a.size <= ob or ob + b.size <= oa, f"buffers {a.key} and {b.key} overlap"
