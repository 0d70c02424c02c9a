"""Any aspect ratio, end to end on the host: a 3:1 synthetic set trains at its own aspect,
quantizes, runs bit-exact in every int8 runtime, and its predictions, masks and overlays
come back at the original image's aspect. Also fit/crop runs and legacy square manifests."""

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from vadtool import data as datasets
from vadtool.evaluate import evaluate
from vadtool.geometry import InputGeometry
from vadtool.predict import predict_files
from vadtool.report import write_overlay
from vadtool.report.overlay import GAP
from vadtool.rundir import Run
from vadtool.runners import LiteRTRunner, NativeInt8Runner, TFLMRunner, to_int8


def test_shape_comes_from_the_images_aspect(bar_run):
    m = Run.open(bar_run).manifest
    assert m["input"] == {"height": 48, "width": 144, "channels": 3, "resize": "squash", "pixels": "RGB uint8"}
    assert m["recipe"]["shape"] == [48, 144] and m["output"]["grid"] == [3, 9]


def test_int8_runtimes_agree_bit_exactly_on_non_square_inputs(bar_run, bar_data):
    run = Run.open(bar_run)
    g = InputGeometry.from_manifest(run.manifest)
    samples = datasets.discover(bar_data).split("test")[::3]
    x = to_int8(datasets.load_images(samples, g.shape_hw, g.resize))
    assert x.shape == (4, 48, 144, 3)
    tflite = run.file("model_int8.tflite")
    golden = TFLMRunner(tflite).run_int8(x)
    assert golden.shape == (4, 3, 9, 96)
    for runner in (LiteRTRunner(tflite), NativeInt8Runner(tflite)):
        assert np.array_equal(runner.run_int8(x), golden), runner.name


def test_evaluates_with_masks_in_the_same_geometry(bar_run):
    result = evaluate(bar_run, runtime="tflm")
    assert result["n_images"] == 12
    assert result["image_auroc"] >= 0.9 and result["pixel_auroc"] > 0.8 and result["cell_auroc"] > 0.8


def test_predictions_and_overlays_keep_the_original_aspect(bar_run, bar_data, tmp_path):
    samples = [s for s in datasets.discover(bar_data).split("test") if s.defect in ("crack", "missing")]
    records = predict_files(bar_run, [s.path for s in samples], tmp_path, "tflm")
    hits = 0
    for s, rec in zip(samples, records):
        assert np.asarray(rec["cells"]).shape == (3, 9)
        with Image.open(tmp_path / rec["mask"]) as im:
            assert im.size == (192, 64)  # the image's own size
            predicted = np.asarray(im) > 0
        truth = datasets.load_mask(s.mask, (64, 192)).astype(bool)
        hits += bool((predicted & truth).any())
        png = write_overlay(s.path, rec, tmp_path / f"{s.defect}_{s.path.stem}.png", mask_path=s.mask)
        with Image.open(png) as im:  # four 192x64 panels side by side, a caption below
            assert im.size == (4 * 192 + 3 * GAP, 64 + 16)
        for b in rec["boxes"]:
            assert 0 <= b["x0"] < b["x1"] <= 192 and 0 <= b["y0"] < b["y1"] <= 64
    assert hits >= len(samples) - 1, "predicted masks should cover the defects at the image's aspect"


@pytest.fixture(scope="module")
def crop_run(tmp_path_factory, bar_data, weights):
    """A square input (64x64) centre-cropped from the 3:1 bars (float only)."""
    from vadtool.models.backbone import BackboneSpec
    from vadtool.train import train_fomo_ad
    from recipes import checked_in_recipe
    out = tmp_path_factory.mktemp("runs") / "crop"
    spec = BackboneSpec(alpha=0.35, cut="block_6_expand_relu", weights=str(weights), input_scale="unit")
    train_fomo_ad(bar_data, out, checked_in_recipe("fomo-ad-tiny", backbone=spec, shape=[64, 64], resize="crop"))
    return out


def test_crop_maps_back_to_the_middle_of_the_image(crop_run, bar_data, tmp_path):
    assert Run.open(crop_run).manifest["input"]["resize"] == "crop"
    result = evaluate(crop_run, runtime="float")
    assert result["pixel_auroc"] is not None
    crack = [s for s in datasets.discover(bar_data).split("test") if s.defect == "crack"][0]
    (rec,) = predict_files(crop_run, [crack.path], tmp_path, "float")
    rec = dict(rec, threshold=float(np.min(rec["cells"])) - 1)  # every seen cell anomalous
    png = write_overlay(crack.path, rec, tmp_path / "o.png")
    picture = np.asarray(Image.open(png).convert("RGB")).astype(int)
    predicted = picture[:64, 2 * (192 + GAP):2 * (192 + GAP) + 192]
    red = (predicted[..., 0] - predicted[..., 2]) > 60
    # the crop saw columns 64..128 of 192: the "anomalous" tint covers exactly those
    assert red[:, 66:126].mean() > 0.9 and red[:, :62].mean() < 0.05 and red[:, 130:].mean() < 0.05


def test_legacy_square_manifest_still_loads(fomo_run, tmp_path):
    """Runs written before any aspect ratio say "input": {"size": S}."""
    run_dir = tmp_path / "old"
    shutil.copytree(fomo_run, run_dir)
    manifest = json.loads((run_dir / "vadtool.json").read_text())
    manifest["input"] = {"size": 96, "channels": 3, "pixels": "RGB uint8"}
    manifest["recipe"].pop("shape"), manifest["recipe"].pop("resize")
    (run_dir / "vadtool.json").write_text(json.dumps(manifest))
    assert InputGeometry.from_manifest(Run.open(run_dir).manifest).shape_hw == (96, 96)
    old, new = evaluate(run_dir, runtime="tflm", limit=6), evaluate(fomo_run, runtime="tflm", limit=6)
    assert old["image_auroc"] == new["image_auroc"] and old["pixel_auroc"] == new["pixel_auroc"]
