"""Train, quantize and evaluate on a synthetic set with real pretrained weights."""

import json

import numpy as np
import pytest

from vadtool import data as datasets
from vadtool.evaluate import evaluate
from vadtool.geometry import InputGeometry
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


def test_quantize_compares_scores_from_before_the_bank_took_the_held_back_images(fomo_run):
    """The default knn bank takes the held-back images in after the threshold is set, so it
    scores them ~0; quantize's float/int8 comparison uses the scores from before (train keeps
    them in holdout_cells.npy), or it would correlate noise."""
    run = Run.open(fomo_run)
    held = np.load(run.file("holdout_cells.npy"))
    assert held.shape[0] == len(run.manifest["holdout_images"]) and held.min() > 0
    q = run.manifest["quantization"]
    assert q["cell_score_correlation"] > 0.8 and q["image_score_correlation"] > 0.8


def test_fit_head_sets_the_threshold_on_the_validation_set_and_keeps_the_bank_to_the_fit_images():
    from vadtool.models.fomo_ad import FomoAdRecipe, fit_head
    rng = np.random.default_rng(0)
    fit, held = rng.normal(size=(8, 2, 2, 5)), rng.normal(size=(3, 2, 2, 5))
    odd = held + 4.0
    val, labels = np.concatenate([held, odd]), np.array([0, 0, 0, 1, 1, 1])
    density, threshold, source, cells = fit_head(FomoAdRecipe(density="knn", image_score="max"), fit, val, labels)
    bank = fit.reshape(-1, 5)
    nearest = np.linalg.norm(val.reshape(-1, 1, 5) - bank[None], axis=-1).min(1)
    assert np.allclose(cells.ravel(), nearest, atol=1e-2)  # the bank is the fit cells (float16)
    scores = density.image_scores(cells)
    assert source == "best F1 on the validation set"
    assert ((scores > threshold) == labels.astype(bool)).all()
    # without a validation set: the highest score of the fitted images
    _, alone, source, _ = fit_head(FomoAdRecipe(density="knn", image_score="max"), fit, fit[:0], np.zeros(0))
    assert alone == pytest.approx(float(density.image_scores(density.score(fit)).max()), abs=1e-3)
    assert source.startswith("max training image score")


def _images(data, shape_hw, n=6):
    ds = datasets.discover(data)
    picked = ds.split("test")[:: max(1, len(ds.split("test")) // n)][:n]
    real = datasets.load_images(picked, shape_hw)
    edges = np.stack([np.zeros((*shape_hw, 3), np.uint8), np.full((*shape_hw, 3), 255, np.uint8)])
    return np.concatenate([real, edges])


@pytest.mark.parametrize("which", ["fomo_run", "classifier_run"])
def test_int8_runtimes_agree_bit_exactly_with_tflm(which, request, synth_data):
    run = Run.open(request.getfixturevalue(which))
    tflite = run.file("model_int8.tflite")
    x = to_int8(_images(synth_data, InputGeometry.from_manifest(run.manifest).shape_hw))
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
    assert m["kind"] == "fomo-ad" and (m["input"]["height"], m["input"]["width"]) == (96, 96)
    assert {"model.keras", "head.npz", "model_int8.tflite", "head_int8.npz", "head_int.npz"} <= m["files"].keys()
    assert m["holdout_images"] and not set(m["holdout_images"]) & set(m["train_images"])


def test_native_c_head_scores_equal_the_int_head_on_tflm_features(fomo_run, synth_data):
    """The default knn head becomes an int8 coreset within the recipe's bank_kb; the C head in
    the native runtime scores tflm's features exactly as IntHead does."""
    from vadtool.models.int_head import IntHead
    run = Run.open(fomo_run)
    head = IntHead.load(run.file("head_int.npz"))
    assert head.kind == "knn" and 0 < head.flash_bytes <= run.manifest["recipe"]["bank_kb"] * 1024
    assert run.manifest["threshold_int8"] == head.threshold / 2 ** head.frac_bits
    tflite = run.file("model_int8.tflite")
    x = to_int8(_images(synth_data, InputGeometry.from_manifest(run.manifest).shape_hw))
    golden = TFLMRunner(tflite).run_int8(x)
    cells, image = head.score(golden)
    q, c_cells, c_image = NativeInt8Runner(tflite, head=head).run_with_head(x)
    assert np.array_equal(q, golden)
    assert np.array_equal(c_cells, cells) and np.array_equal(c_image, image)
    assert c_cells.dtype == np.int32 and len(np.unique(c_image)) > 1


def test_projected_knn_run_end_to_end(tmp_path, synth_data, weights):
    """--project folds the principal components into the network: the int8 model outputs
    that many channels, the coreset holds bank_kb of them, and the C head in the native
    runtime gives IntHead's scores on tflm's features."""
    from vadtool.models.backbone import BackboneSpec
    from vadtool.models.fomo_ad import FomoAdRecipe
    from vadtool.models.int_head import IntHead
    from vadtool.quantize import quantize
    from vadtool.train import train_fomo_ad
    out = tmp_path / "projected"
    recipe = FomoAdRecipe(backbone=BackboneSpec(weights=str(weights)), size=96, project=16, bank_kb=2)
    train_fomo_ad(synth_data, out, recipe)
    quantize(out)
    run = Run.open(out)
    head = IntHead.load(run.file("head_int.npz"))
    assert run.manifest["output"]["channels"] == 16 and head.channels == 16
    assert len(head.bank) == 2048 // 16
    tflite = run.file("model_int8.tflite")
    x = to_int8(_images(synth_data, (96, 96)))
    golden = TFLMRunner(tflite).run_int8(x)
    assert golden.shape[-1] == 16
    cells, image = head.score(golden)
    _, c_cells, c_image = NativeInt8Runner(tflite, head=head).run_with_head(x)
    assert np.array_equal(c_cells, cells) and np.array_equal(c_image, image)
    assert evaluate(out, runtime="tflm")["image_auroc"] > 0.85
