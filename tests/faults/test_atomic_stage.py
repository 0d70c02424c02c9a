"""quantize commits model_int8.tflite, its heads and the manifest as one set: killed before
the commit the previous set is intact and whole; killed after it, the next command that
opens the run completes the set."""

from __future__ import annotations

import shutil

from vadtool.rundir import COMMIT_DIR, MANIFEST, STAGE_PREFIX

from .harness import assert_error, snapshot, vadtool


def artifacts(run):
    return {k: v for k, v in snapshot(run).items() if not k.startswith(STAGE_PREFIX)}


def test_killed_just_before_the_manifest_leaves_the_previous_set(run_copy, quantized_run, tiny_data, tmp_path):
    run = run_copy(quantized_run)
    before = artifacts(run)
    # another calibration set makes another model; SIGKILL (no cleanup) as the manifest is written
    proc = vadtool("quantize", run, "--calib", tiny_data / "test" / "good",
                   fault=("open", f"*/.{MANIFEST}.*.tmp", "SIGKILL"))
    assert proc.returncode == -9, proc.stderr
    assert artifacts(run) == before  # model, manifest: the previous set, byte for byte
    out = tmp_path / "model.tflite"
    ok = vadtool("export", run, "--format", "tflite", "--out", out)  # checks the model's hash
    assert ok.returncode == 0, ok.stderr
    assert out.read_bytes() == (run / "model_int8.tflite").read_bytes()


def test_a_commit_cut_short_is_completed_by_the_next_command(run_copy, quantized_run, tmp_path):
    """What a kill right after the commit point leaves: the set in COMMIT_DIR, not moved yet."""
    run = run_copy(quantized_run)
    (run / COMMIT_DIR).mkdir()
    for name in ("model_int8.tflite", MANIFEST):
        shutil.move(run / name, run / COMMIT_DIR / name)
    out = tmp_path / "model.tflite"
    proc = vadtool("export", run, "--format", "tflite", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert not (run / COMMIT_DIR).exists()
    assert snapshot(run) == snapshot(quantized_run)


def test_a_failed_quantize_leaves_nothing(run_copy, trained_run, tmp_path):
    run = run_copy(trained_run)
    before = snapshot(run.parent)
    proc = vadtool("quantize", run, fault=("open", "*model_int8*", "SIGTERM"))
    assert_error(proc, 130, "interrupted (SIGTERM)")
    assert snapshot(run.parent) == before
