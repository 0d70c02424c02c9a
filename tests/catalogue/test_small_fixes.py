"""Catalogue: the smaller promises around a good run: rendered sources readable by others
(0644 under the usual umask), a failed build leaves no firmware to emulate, and quantize on an
imported (already int8) run succeeds without doing anything."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from catalogue.harness import check_refusal, refused, snapshot, vadtool


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_render_writes_files_with_the_usual_permissions(tmp_path, good_run):
    done = vadtool("render", good_run, "--board", "qemu-an386", "--out", tmp_path / "fw")
    assert done.returncode == 0, done.stderr
    modes = {str(p.relative_to(tmp_path)): p.stat().st_mode & 0o777 for p in (tmp_path / "fw").rglob("*")
             if p.is_file()}
    assert "fw/vad_model.c" in modes and "fw/vad_head.c" in modes
    assert set(modes.values()) == {0o666 & ~_umask()}, modes


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="needs gcc-arm-none-eabi (optional tool)")
def test_a_failed_build_leaves_no_firmware_to_emulate(tmp_path, good_run):
    fw = tmp_path / "fw"
    assert vadtool("render", good_run, "--board", "qemu-an386", "--out", fw).returncode == 0
    (fw / "build").mkdir()
    stale = fw / "build" / "firmware.elf"
    stale.write_bytes(b"\x7fELF a previous build")  # what an earlier, successful build linked
    with open(fw / "main.c", "a") as f:
        f.write("\nthis does not compile;\n")
    check_refusal(vadtool("build", fw), names="failed")
    assert not stale.exists()
    refused("emulate", fw, names="firmware.elf", watch=[fw])


def test_quantize_on_an_imported_run_says_it_is_int8_and_succeeds(tmp_path, good_run):
    """`vadtool import` writes model_float.tflite and model_int8.tflite, no model.keras."""
    run = Path(shutil.copytree(good_run, tmp_path / "imported"))
    manifest = json.loads((run / "vadtool.json").read_text())
    (run / "model.keras").unlink()
    del manifest["files"]["model.keras"]
    shutil.copy(run / "model_int8.tflite", run / "model_float.tflite")
    manifest["files"]["model_float.tflite"] = hashlib.sha256((run / "model_float.tflite").read_bytes()).hexdigest()
    (run / "vadtool.json").write_text(json.dumps(manifest))
    before = snapshot(tmp_path)
    done = vadtool("quantize", run)
    assert done.returncode == 0, done.stderr
    assert "already int8" in done.stdout and "Traceback" not in done.stderr
    assert snapshot(tmp_path) == before
