"""TFLite Micro arena sizes, measured with the real interpreter in a subprocess.

A too-small arena can crash the interpreter process, so every probe runs in its own
Python subprocess and only its exit status is read.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from .errors import ModelError

PROBE_TIMEOUT_S = 120
_PROBE = """
import sys, numpy as np
from tflite_micro.python.tflite_micro import runtime
interp = runtime.Interpreter.from_file(sys.argv[1], arena_size=int(sys.argv[2]))
shape = interp.get_input_details(0)["shape"]
interp.set_input(np.zeros(shape, np.int8), 0)
interp.invoke()
if len(sys.argv) > 3:
    interp.print_allocations()
"""


def _probe(tflite: Path, arena: int, report: bool = False) -> subprocess.CompletedProcess:
    args = [sys.executable, "-c", _PROBE, str(tflite), str(arena)] + (["report"] if report else [])
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        raise ModelError(f"{tflite}: the TFLite Micro interpreter did not finish one inference "
                         f"in {PROBE_TIMEOUT_S} s") from exc


def fits(tflite: Path, arena: int) -> bool:
    """Does one inference succeed with this arena size?"""
    return _probe(tflite, arena).returncode == 0


def recorded_arena_bytes(tflite: Path, generous: int = 16 << 20) -> int:
    """Arena total as the interpreter's recording allocator reports it."""
    done = _probe(tflite, generous, report=True)
    match = re.search(r"Arena allocation total (\d+) bytes", done.stdout + done.stderr)
    if done.returncode != 0 or not match:
        raise ModelError(f"{tflite}: the TFLite Micro interpreter cannot run this model "
                         f"({(done.stderr.strip().splitlines() or ['no output'])[-1][:160]})")
    return int(match.group(1))


def minimal_arena_bytes(tflite: Path, step: int = 1024) -> int:
    """Smallest multiple of `step` bytes that runs the model (binary search of probes)."""
    hi = -(-recorded_arena_bytes(tflite) // step) * step
    while not fits(tflite, hi):
        hi *= 2
    lo = 0  # invariant: lo does not fit (0 never does), hi fits
    while hi - lo > step:
        mid = (lo + hi) // 2 // step * step
        if mid == lo:
            break
        if fits(tflite, mid):
            hi = mid
        else:
            lo = mid
    return hi
