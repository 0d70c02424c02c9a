"""Train, quantize and evaluate on a synthetic set with real pretrained weights."""

import json

import numpy as np
import pytest

from vadtool import data as datasets
from vadtool.evaluate import evaluate
from vadtool.rundir import Run
from vadtool.runners import LiteRTRunner, NativeInt8Runner, TFLMRunner, to_int8

EVALUATE_KEYS = {"image_auroc", "image_f1", "best_f1", "threshold", "cell_auroc",
                 "pixel_auroc", "ms_per_image", "n_images", "runtime"}


@pytest.mark.parametrize("runtime", ["float", "tflm", "native"])
def test_fomo_ad_detects_synthetic_anomalies(fomo_run, runtime):
    result = evaluate(fomo_run, runtime=runtime)
    assert EVALUATE_KEYS <= result.keys()
    assert result["image_auroc"] > 0.9
    assert result["pixel_auroc"] > 0.8 and result["cell_auroc"] > 0.8
    assert result["n_images"] == 12 + 4 * 6


def test_quantized_input_is_pixel_minus_128(fomo_run):
    q = Run.open(fomo_run).manifest["quantization"]
    assert q["input_scale"] == pytest.approx(1.0) and q["input_zero_point"] == -128
    assert q["feature_correlation"] > 0.95


def _images(data, size, n=6):
    ds = datasets.discover(data)
    picked = ds.split("test")[:: max(1, len(ds.split("test")) // n)][:n]
    real = datasets.load_images(picked, size)
    edges = np.stack([np.zeros((size, size, 3), np.uint8), np.full((size, size, 3), 255, np.uint8)])
    return np.concatenate([real, edges])


@pytest.mark.parametrize("which", ["fomo_run", "classifier_run"])
def test_int8_runtimes_agree_bit_exactly_with_tflm(which, request, synth_data):
    run = Run.open(request.getfixturevalue(which))
    tflite = run.file("model_int8.tflite")
    x = to_int8(_images(synth_data, run.manifest["input"]["size"]))
    golden = TFLMRunner(tflite).run_int8(x)
    for runner in (LiteRTRunner(tflite), NativeInt8Runner(tflite)):
        out = runner.run_int8(x)
        assert out.dtype == np.int8 and out.shape == golden.shape
        assert np.array_equal(out, golden), runner.name


def test_classifier_never_evaluates_its_training_images(classifier_run):
    run = Run.open(classifier_run)
    result = evaluate(classifier_run, runtime="float")
    trained_anomalies = [p for p in run.manifest["train_images"] if not p.startswith("train/")]
    assert trained_anomalies, "the classifier should train on a share of test anomalies"
    total_test = 12 + 4 * 6
    assert result["n_images"] == total_test - len(trained_anomalies)
    assert result["cell_auroc"] is None and result["image_auroc"] > 0.8


def test_manifest_records_data_and_hashes(fomo_run):
    m = json.loads((fomo_run / "vadtool.json").read_text())
    assert m["kind"] == "fomo-ad" and m["input"]["size"] == 96
    assert {"model.keras", "head.npz", "model_int8.tflite", "head_int8.npz"} <= m["files"].keys()
    assert m["holdout_images"] and not set(m["holdout_images"]) & set(m["train_images"])
