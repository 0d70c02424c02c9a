"""Validate a run directory once, when it is opened: the manifest's structure and every
recorded artifact (present, unchanged since written, and readable as what its name says).

A run that passes can be read by every stage without a traceback; one that does not is a
ModelError naming the file or manifest key and what to do. Nothing here imports TensorFlow,
so a broken run is refused before any model loads.
"""

from __future__ import annotations

import math
import re
import zipfile
from pathlib import Path

import numpy as np

from .errors import ModelError
from .geometry import RESIZES

KINDS = ("fomo-ad", "classifier", "backbone")  # train fomo-ad, train classifier, import (backbone)
_HASH = re.compile(r"[0-9a-f]{64}")
_RETRAIN = "retrain into a new folder (vadtool train ... --out)"


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_side(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 65536


def check_manifest(file: Path, m: dict) -> None:
    """The keys every stage reads, with their types; raises ModelError on the first bad one."""

    def bad(key: str, what: str) -> ModelError:
        return ModelError(f"{file}: {key!r} {what}; {_RETRAIN}")

    kind = m.get("kind")
    if kind not in KINDS:
        raise bad("kind", f"is {kind!r}, not one of {', '.join(KINDS)}")
    files = m.get("files")
    if not isinstance(files, dict) or not all(isinstance(k, str) and isinstance(v, str) and _HASH.fullmatch(v)
                                              for k, v in files.items()):
        raise bad("files", "is missing or not a map of file name to sha256")
    for name in files:
        if Path(name).name != name or name.startswith("."):
            raise bad("files", f"names {name!r}, which is not a file of the run directory")
    inp = m.get("input")
    if not isinstance(inp, dict):
        raise bad("input", "is missing (the input shape)")
    if "height" in inp or "width" in inp:
        if not (_is_side(inp.get("height")) and _is_side(inp.get("width"))):
            raise bad("input", "needs whole-number 'height' and 'width' in pixels")
        if inp.get("resize", "squash") not in RESIZES:
            raise bad("input", f"has resize {inp.get('resize')!r}, not one of {', '.join(RESIZES)}")
    elif not _is_side(inp.get("size")):
        raise bad("input", "needs 'height' and 'width' (or the older 'size') in pixels")
    for key in ("threshold", "threshold_int8"):
        if key not in m:
            if key == "threshold" and kind != "backbone":
                raise bad(key, "is missing")
            continue
        if m[key] is None and kind == "backbone":
            continue
        if not _is_number(m[key]):
            raise bad(key, f"is {m[key]!r}, not a finite number")
    for key in ("recipe", "output", "data", "quantization", "head_int"):
        if key in m and not isinstance(m[key], dict):
            raise bad(key, "is not an object")
    if kind != "backbone" and not isinstance(m.get("recipe"), dict):
        raise bad("recipe", "is missing")


def check_artifact(path: Path) -> None:
    """Open an artifact as what its name says (cheap: no model is built)."""
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                for key in z.files:
                    z[key]  # reads and decompresses every array: a corrupt member fails here
        elif path.suffix == ".npy":
            np.load(path, allow_pickle=False, mmap_mode="r")
        elif path.suffix == ".keras":
            with zipfile.ZipFile(path) as z:
                broken = z.testzip()
                if broken is not None:
                    raise ValueError(f"member {broken} is corrupt")
        elif path.suffix == ".tflite":
            from .native.tflite_reader import read_tflite
            graph = read_tflite(path)
            if not graph.inputs or not graph.outputs:
                raise ValueError("no input or output tensor")
    except ModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - zip, numpy and flatbuffer readers raise many types
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        raise ModelError(f"{path}: corrupt ({reason}); re-run the stage that writes it, "
                         f"or {_RETRAIN}") from exc
