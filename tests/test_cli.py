"""The CLI as a user meets it: end to end through a subprocess, and every bad input ending
in one line that names the file, exit code 2, no traceback and nothing half-written."""

import json
import shutil
import subprocess
import sys

from click.testing import CliRunner
from PIL import Image

from vadtool.cli import cli

VADTOOL = [sys.executable, "-m", "vadtool.cli"]


def vadtool(*args, **kw):
    return subprocess.run(VADTOOL + [str(a) for a in args], capture_output=True, text=True,
                          timeout=600, **kw)


def run_cli(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_end_to_end_through_the_command(tmp_path, weights):
    data, run = tmp_path / "data", tmp_path / "run"
    assert vadtool("data", "synth", data, "--seed", 1).returncode == 0
    check = vadtool("data", "check", data)
    assert check.returncode == 0 and "train: good 60" in check.stdout
    trained = vadtool("-q", "train", "fomo-ad", data, "--out", run, "--size", 64)  # the default: a search
    assert trained.returncode == 0, trained.stderr
    quantized = vadtool("-q", "quantize", run)
    assert quantized.returncode == 0, quantized.stderr
    result = vadtool("evaluate", run, "--runtime", "tflm", "--json")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)  # --json prints only the object
    assert metrics["runtime"] == "tflm" and metrics["image_auroc"] > 0.9
    images = sorted((data / "test" / "spot").glob("*.png"))[:2]
    pred = vadtool("-q", "predict", run, *images, "--out", tmp_path / "pred", "--visualize")
    assert pred.returncode == 0, pred.stderr
    record = json.loads((tmp_path / "pred" / f"{images[0].stem}.json").read_text())
    assert {"score", "anomalous", "cells", "boxes", "mask"} <= record.keys()
    assert (tmp_path / "pred" / record["mask"]).is_file()
    from PIL import Image
    with Image.open(tmp_path / "pred" / f"{images[0].stem}_overlay.png") as overlay:
        assert overlay.width > 2 * overlay.height  # image | heatmap | predicted, side by side


def _corrupt_copy(synth_data, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(synth_data, data)
    victim = sorted((data / "train" / "good").glob("*.png"))[5]
    victim.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    return data, victim


def test_corrupt_image_names_the_file_and_leaves_no_run(tmp_path, synth_data, weights):
    data, victim = _corrupt_copy(synth_data, tmp_path)
    result = run_cli("train", "fomo-ad", data, "--out", tmp_path / "run", "--size", 96)
    assert result.exit_code == 2
    assert victim.name in result.output and "Traceback" not in result.output
    assert not (tmp_path / "run").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".run")]


def test_empty_and_mislabelled_folders(tmp_path):
    (tmp_path / "empty").mkdir()
    result = run_cli("train", "fomo-ad", tmp_path / "empty", "--out", tmp_path / "run")
    assert result.exit_code == 2 and "empty" in result.output
    bad = tmp_path / "mislabelled"
    (bad / "train" / "crack").mkdir(parents=True)
    (bad / "train" / "good").mkdir(parents=True)
    result = run_cli("data", "check", bad)
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_missing_weights_says_what_to_give(tmp_path, synth_data):
    result = run_cli("train", "fomo-ad", synth_data, "--out", tmp_path / "run",
                     "--weights", tmp_path / "nowhere")
    assert result.exit_code == 2
    assert "nowhere" in result.output and "--weights" in result.output


def test_weights_folder_without_the_file_lists_names(tmp_path, synth_data):
    (tmp_path / "w").mkdir()
    result = run_cli("train", "fomo-ad", synth_data, "--out", tmp_path / "run",
                     "--weights", tmp_path / "w")
    assert result.exit_code == 2 and "mobilenet_v2" in result.output


def test_weights_cut_before_an_extra_layer_name_the_recipe_that_fits(tmp_path, synth_data, weights):
    """The FOMO-AD 0.35 file stops at block 6; the default recipe also reads block 13."""
    result = run_cli("train", "fomo-ad", synth_data, "--out", tmp_path / "run", "--alpha", 0.35,
                     "--size", 96, "--weights", weights)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "block_13_expand_relu" in result.output and "fomo-ad-tiny.json" in result.output
    assert not (tmp_path / "run").exists()


def test_truncated_tflite_is_refused(tmp_path, fomo_run):
    run = tmp_path / "run"
    shutil.copytree(fomo_run, run)
    model = run / "model_int8.tflite"
    model.write_bytes(model.read_bytes()[:1000])
    result = run_cli("evaluate", run, "--runtime", "tflm")
    assert result.exit_code == 2
    assert "model_int8.tflite" in result.output and "quantize" in result.output


def test_run_from_another_version_is_refused(tmp_path, fomo_run):
    run = tmp_path / "run"
    shutil.copytree(fomo_run, run)
    manifest = json.loads((run / "vadtool.json").read_text())
    manifest["format"] = 99
    manifest["vadtool_version"] = "9.9.9"
    (run / "vadtool.json").write_text(json.dumps(manifest))
    result = run_cli("evaluate", run)
    assert result.exit_code == 2
    assert "9.9.9" in result.output and "retrain" in result.output


def test_not_a_run_directory(tmp_path):
    result = run_cli("quantize", tmp_path)
    assert result.exit_code == 2 and "vadtool.json" in result.output


def test_debug_shows_the_traceback(tmp_path):
    result = CliRunner().invoke(cli, ["--debug", "quantize", str(tmp_path)])
    assert result.exit_code != 0 and result.exception is not None


def test_out_that_holds_a_run_is_not_overwritten(tmp_path, synth_data, fomo_run):
    before = (fomo_run / "vadtool.json").read_bytes()
    result = run_cli("train", "fomo-ad", synth_data, "--out", fomo_run)
    assert result.exit_code == 2 and "holds a run" in result.output
    assert (fomo_run / "vadtool.json").read_bytes() == before


def test_bad_sizes_are_one_line_and_exit_2(tmp_path, bar_data):
    """The first three fail before anything heavy is imported: through the real program. The
    multiple-of-32 check comes after TensorFlow is loaded (a start-up of seconds): in-process,
    the same stderr and exit code."""
    for size, says in (("0", "--size 0: sides must be 32..1024 px; 0 is not"),
                       ("7x3000", "--size 7x3000: sides must be 32..1024 px; 7 and 3000 are not"),
                       ("abc", "--size 'abc': give one side in pixels (128) or WIDTHxHEIGHT (160x400)"),
                       ("100x400", "--size 100x400: sides must be multiples of 32")):
        args = ("train", "fomo-ad", bar_data, "--out", tmp_path / "run", "--size", size)
        if size == "100x400":
            result = run_cli(*args)
            code, stderr = result.exit_code, result.stderr
            assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        else:
            done = vadtool(*args)
            code, stderr = done.returncode, done.stderr
        assert code == 2, stderr
        assert stderr.startswith(f"error: {says}") and stderr.count("\n") == 1, stderr
        assert not (tmp_path / "run").exists()


def test_data_check_prints_image_sizes_and_the_input_shape(bar_data):
    result = run_cli("data", "check", bar_data)
    assert result.exit_code == 0, result.output
    assert "train image sizes: width 192/192/192, height 64/64/64, aspect (w/h) 3.00/3.00/3.00" in result.output
    assert "train fomo-ad input: 384x128 (WxH, squash), searched against 288x96, 192x64" in result.output
    assert "train classifier input: 288x96 (WxH, squash)" in result.output


def test_synth_aspect_draws_wide_images(tmp_path):
    result = run_cli("data", "synth", tmp_path / "wide", "--aspect", 2.5, "--size", 40, "--train", 2)
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "wide" / "train" / "good" / "000.png") as im:
        assert im.size == (100, 40)
    result = run_cli("data", "synth", tmp_path / "bad", "--aspect", 20)
    assert result.exit_code == 2 and "aspect within 1/8..8" in result.output
    assert not (tmp_path / "bad").exists()


def test_classifier_takes_the_data_aspect_and_an_explicit_shape(tmp_path, bar_data, weights):
    run = tmp_path / "cls"
    result = run_cli("-q", "train", "classifier", bar_data, "--out", run, "--size", "32", "--weights", weights)
    assert result.exit_code == 0, result.output
    assert "input 96x32 (WxH, squash)" in result.output
    result = run_cli("-q", "train", "classifier", bar_data, "--out", tmp_path / "cls2", "--size", "64x32",
                     "--resize", "fit", "--weights", weights)
    assert result.exit_code == 0, result.output
    m = json.loads((tmp_path / "cls2" / "vadtool.json").read_text())
    assert (m["input"]["height"], m["input"]["width"], m["input"]["resize"]) == (32, 64, "fit")
