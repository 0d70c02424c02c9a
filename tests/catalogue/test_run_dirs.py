"""Catalogue: run directories broken after training (by hand, by a disk, by another tool).
The run is validated once when it is opened: every case is one line naming the file or the
manifest key, exit 2, and the run left as it was."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from catalogue.harness import refused


def _manifest(run: Path) -> dict:
    return json.loads((run / "vadtool.json").read_text())


def _save(run: Path, manifest: dict) -> None:
    (run / "vadtool.json").write_text(json.dumps(manifest))


def _edit(run: Path, **changes) -> None:
    m = _manifest(run)
    for key, value in changes.items():
        if value is _DROP:
            m.pop(key)
        else:
            m[key] = value
    _save(run, m)


_DROP = object()


def _write(path: Path, data) -> Path:
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return path


def _delete(path: Path) -> Path:
    path.unlink()
    return path


def _corrupt_consistently(run: Path, name: str, data: bytes | None = None) -> Path:
    """Replace an artifact with broken bytes and record their hash, as a tool that
    re-hashes (or a bad copy of both) would: only a check of the content finds it."""
    path = run / name
    path.write_bytes(data if data is not None else path.read_bytes()[: path.stat().st_size // 2])
    m = _manifest(run)
    m["files"][name] = hashlib.sha256(path.read_bytes()).hexdigest()
    _save(run, m)
    return path


# name -> (break(run) returning what the line must name, command after `vadtool` with {run})
CASES = {
    "head_int8_truncated": (lambda r: _corrupt_consistently(r, "head_int8.npz"), "evaluate {run} --runtime litert"),
    "head_truncated": (lambda r: _corrupt_consistently(r, "head.npz"), "evaluate {run}"),
    "head_int_garbage": (lambda r: _corrupt_consistently(r, "head_int.npz", b"PK\x03\x04" + b"\0" * 64),
                         "render {run} --board qemu-an386 --out {tmp}/fw"),
    "holdout_cells_garbage": (lambda r: _corrupt_consistently(r, "holdout_cells.npy", b"\x93NUMPY garbage"),
                              "quantize {run}"),
    "tflite_truncated": (lambda r: _corrupt_consistently(r, "model_int8.tflite"), "evaluate {run} --runtime tflm"),
    "tflite_zeros": (lambda r: _corrupt_consistently(r, "model_int8.tflite", b"\0" * 4096),
                     "render {run} --board qemu-an386 --out {tmp}/fw"),
    "keras_truncated": (lambda r: _corrupt_consistently(r, "model.keras"), "predict {run} {image} --out {tmp}/pred"),
    "artifact_changed": (lambda r: _write(r / "head.npz", b"x"), "evaluate {run}"),
    "artifact_deleted": (lambda r: _delete(r / "head_int.npz"), "evaluate {run}"),
    "manifest_not_json": (lambda r: _write(r / "vadtool.json", "{"), "evaluate {run}"),
    "manifest_a_list": (lambda r: _write(r / "vadtool.json", "[]"), "evaluate {run}"),
    "manifest_no_input": (lambda r: _edit(r, input=_DROP) or "'input'", "evaluate {run}"),
    "manifest_no_files": (lambda r: _edit(r, files=_DROP) or "'files'", "quantize {run}"),
    "manifest_files_a_list": (lambda r: _edit(r, files=[]) or "'files'", "evaluate {run}"),
    "manifest_file_outside": (lambda r: _edit(r, files={**_manifest(r)["files"], "../x": "0" * 64}) or "'files'",
                              "evaluate {run}"),
    "threshold_string": (lambda r: _edit(r, threshold="0.5") or "'threshold'", "predict {run} {image} --out {tmp}/pred"),
    "threshold_nan": (lambda r: _edit(r, threshold=float("nan")) or "'threshold'", "predict {run} {image} --out {tmp}/pred"),
    "threshold_missing": (lambda r: _edit(r, threshold=_DROP) or "'threshold'", "evaluate {run}"),
    "threshold_int8_string": (lambda r: _edit(r, threshold_int8="high") or "'threshold_int8'", "evaluate {run} --runtime tflm"),
    "kind_unknown": (lambda r: _edit(r, kind="segmenter") or "'kind'", "render {run} --board qemu-an386 --out {tmp}/fw"),
    "input_side_string": (lambda r: _edit(r, input={"height": "64", "width": 64}) or "'input'", "evaluate {run}"),
    "input_resize_unknown": (lambda r: _edit(r, input={"height": 64, "width": 64, "resize": "zoom"}) or "'input'",
                             "evaluate {run}"),
    "recipe_missing": (lambda r: _edit(r, recipe=_DROP) or "'recipe'", "report {run} --out {tmp}/report"),
    "format_newer": (lambda r: _edit(r, format=99) or "format 99", "evaluate {run}"),
    "not_a_run": (lambda r: _delete(r / "vadtool.json") and "not a run directory", "bench {run} --runtime float"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_broken_run_refused(case, tmp_path, run_copy, tiny_data):
    breaker, line = CASES[case]
    named = breaker(run_copy)
    image = sorted((tiny_data / "test" / "good").glob("*.png"))[0]
    args = line.format(run=run_copy, tmp=tmp_path, image=image).split()
    refused(*args, names=[str(named)], watch=[tmp_path, tiny_data])
