"""Quantization stage: model.keras -> full-int8 model_int8.tflite, checked before it is written.

The int8 input is the raw pixel minus 128 (scale 1, zero point -128): the first
calibration image carries one black and one white pixel, which pins the converter's input
range to 0..255 so no pixel clips. For FOMO-AD the density is refitted on the int8
network's own features (reference kernels, bit-exact with TFLite Micro), because those are
the features the device will score.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import data as datasets
from .geometry import InputGeometry
from .errors import DatasetError, ModelError, QuantizeError
from .models import fomo_ad
from .models.density import Density
from .models.int_head import build_int_head, to_int8
from .validation import VALIDATION_FILE, ValidationSet
from .rundir import Run
from .progress import Progress, quiet

CALIB_MAX = 100
MIN_CORRELATION = 0.5  # int8 vs float features; below this the int8 model is broken (0.35 backbone: ~0.88)


def tensor_quantization(tflite_path) -> tuple[tuple[float, int], tuple[float, int]]:
    """((input scale, zero point), (output scale, zero point)) of a full-int8 model."""
    from ai_edge_litert import interpreter as litert
    try:
        interp = litert.Interpreter(model_path=str(tflite_path))
    except (ValueError, RuntimeError) as exc:
        raise ModelError(f"{tflite_path}: not a valid TFLite model ({str(exc).splitlines()[0]}); "
                         "re-run vadtool quantize") from exc
    (inp,), (out,) = interp.get_input_details(), interp.get_output_details()
    for detail, what in ((inp, "input"), (out, "output")):
        if detail["dtype"] != np.int8:
            raise ModelError(f"{tflite_path}: {what} is {np.dtype(detail['dtype']).name}, "
                             "not int8; re-run vadtool quantize")
    return ((float(inp["quantization"][0]), int(inp["quantization"][1])),
            (float(out["quantization"][0]), int(out["quantization"][1])))


def calibration_files(calib_dir: Path) -> list[Path]:
    """At most CALIB_MAX images (not masks) from a folder, spread over its sorted listing."""
    calib_dir = Path(calib_dir)
    paths = sorted(p for p in calib_dir.rglob("*")
                   if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp") and "_mask" not in p.stem)
    if not paths:
        raise DatasetError(f"{calib_dir}: no calibration images (png/jpg/bmp) found; "
                           "give a folder of normal images with --calib")
    return paths[::max(1, len(paths) // CALIB_MAX)][:CALIB_MAX]


def calibration_images(run: Run, calib_dir: Path | None, shape: InputGeometry) -> tuple[np.ndarray, str]:
    if calib_dir is not None:
        paths = calibration_files(calib_dir)
        source = str(calib_dir)
    else:
        root = Path(run.manifest["data"]["root"])
        paths = [root / p for p in run.manifest["train_images"]]
        missing = [p for p in paths if not p.exists()]
        if missing:
            raise DatasetError(f"{missing[0]}: training image is gone; give calibration "
                               "images with --calib DIR")
        source = "training images"
    step = max(1, len(paths) // CALIB_MAX)
    paths = paths[::step][:CALIB_MAX]
    images = np.stack([datasets.load_image(p, shape.shape_hw, shape.resize) for p in paths])
    return images, f"{source} ({len(paths)})"


def run_converter(converter, calib: np.ndarray | None) -> bytes:
    """Run a TFLiteConverter quietly: float without calib, else full int8 (int8 input and
    output) calibrated on calib, whose first image gets one black and one white pixel."""
    import warnings

    from .tfenv import captured_output, tf
    if calib is not None:
        pinned = calib.copy()
        pinned[0, 0, 0] = 0
        pinned[0, 0, 1] = 255

        def representative():
            for image in pinned:
                yield [image[None].astype(np.float32)]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    try:
        with captured_output(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return converter.convert()
    except Exception as exc:  # the converter raises ConverterError and friends
        what = "int8" if calib is not None else "float"
        raise QuantizeError(f"{what} TFLite conversion failed: {str(exc).splitlines()[0][:200]}") from exc


def convert(keras_model, calib: np.ndarray) -> bytes:
    from .tfenv import tf
    return run_converter(tf.lite.TFLiteConverter.from_keras_model(keras_model), calib)


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    if not (np.isfinite(a).all() and np.isfinite(b).all()) or a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def quantize(run_dir: Path, calib_dir: Path | None = None, progress: Progress = quiet) -> dict:
    """Write model_int8.tflite (and for FOMO-AD head_int8.npz, the density refitted on the
    int8 features, and head_int.npz, its integer form that the C head mirrors); return the
    drift report. The artifacts and the manifest are committed together or not at all
    (Run.transaction), under the run's write lock."""
    from .locking import writing
    with writing(run_dir, "quantize"):
        run = Run.open(run_dir)
        if run.imported:
            raise QuantizeError(f"{run.path}: an imported model, already quantized by vadtool import; "
                                "re-import it with other --calib images to change its quantization")
        with run.transaction():
            return _quantize(run, calib_dir, progress)


def _quantize(run: Run, calib_dir: Path | None, progress: Progress) -> dict:
    from .runners import FloatRunner, LiteRTRunner
    progress("load calibration images", 0, 1)
    calib, source = calibration_images(run, calib_dir, InputGeometry.from_manifest(run.manifest))
    progress("load calibration images", 1, 1)
    float_runner = FloatRunner(run)
    progress("convert to int8", 0, 1)
    blob = convert(float_runner.model, calib)
    progress("convert to int8", 1, 1)
    # staged with the rest of the set: checked in place, committed only if every check passes
    staged = run.add_file("model_int8.tflite", lambda p: p.write_bytes(blob))
    (in_scale, in_zero), (out_scale, out_zero) = tensor_quantization(staged)
    if abs(in_scale - 1.0) > 1e-6 or in_zero != -128:
        raise QuantizeError(f"int8 input quantization is scale {in_scale}, zero point "
                            f"{in_zero}; expected 1.0 and -128 (pixel - 128)")
    int8_runner = LiteRTRunner(staged)
    check, held_back = _check_images(run, calib)
    outs_f, outs_q = [], []
    for i in range(len(check)):
        outs_f.append(float_runner.outputs(check[i:i + 1]))
        outs_q.append(int8_runner.outputs(check[i:i + 1]))
        progress("compare float and int8", i + 1, len(check))
    outs_f, outs_q = np.concatenate(outs_f), np.concatenate(outs_q)
    report = {"calibration": source, "input_scale": in_scale, "input_zero_point": in_zero,
              "output_scale": out_scale, "output_zero_point": out_zero,
              "model_bytes": len(blob), "check_images": len(check)}
    if run.kind == "fomo-ad":
        report.update(_refit_fomo_ad(run, int8_runner, outs_f, outs_q, held_back, progress,
                                     output_q=(out_scale, out_zero),
                                     network=float_runner.model))
    else:
        report["score_correlation"] = _correlation(outs_f[:, 1], outs_q[:, 1])
        report["max_score_change"] = float(np.abs(outs_f[:, 1] - outs_q[:, 1]).max())
        if not np.isfinite(outs_q).all() or np.ptp(outs_q[:, 1]) == 0 and np.ptp(outs_f[:, 1]) > 0.05:
            raise QuantizeError("int8 class scores are constant or not finite; "
                                "the model is broken in int8; try more calibration images")
    run.manifest["quantization"] = report
    return report


def _check_images(run: Run, calib: np.ndarray) -> tuple[np.ndarray, bool]:
    """Held-back normal images (never calibrated on) or, without them, the calibration set;
    and whether they are the held-back ones. A FOMO-AD run keeps them in its validation set,
    already at the input shape."""
    if run.has(VALIDATION_FILE):
        val = ValidationSet.load(run.file(VALIDATION_FILE))
        held = np.array([s == "holdout" for s in val.sources], bool)
        if held.any():
            return val.images[held], True
    root = Path(run.manifest["data"]["root"])
    held = [root / p for p in run.manifest.get("holdout_images", [])]
    shape = InputGeometry.from_manifest(run.manifest)
    if held and all(p.exists() for p in held):
        return np.stack([datasets.load_image(p, shape.shape_hw, shape.resize) for p in held]), True
    return calib[: min(len(calib), 20)], False


def _refit_fomo_ad(run: Run, int8_runner, outs_f, outs_q, held_back: bool,
                   progress: Progress, output_q: tuple[float, int], network=None) -> dict:
    from .models.projection import component_scales
    # A whitened projection scales every component to unit variance, the faint ones (mostly
    # int8 noise) too: compare the features before that scaling, as without a projection.
    scales = component_scales(network) if network is not None else None
    corr = _correlation(outs_f * scales, outs_q * scales) if scales is not None else \
        _correlation(outs_f, outs_q)
    if not np.isfinite(outs_q).all() or np.ptp(outs_q) == 0 or not corr >= MIN_CORRELATION:
        raise QuantizeError(f"int8 features are broken (correlation with float {corr:.3f}, "
                            f"minimum {MIN_CORRELATION}); the model was not written; "
                            "try calibration images closer to the training data (--calib)")
    recipe = fomo_ad.FomoAdRecipe.from_json(run.manifest["recipe"])
    root = Path(run.manifest["data"]["root"])
    shape = InputGeometry.from_manifest(run.manifest)
    fit_paths = [root / p for p in run.manifest["train_images"]]
    feats = []
    for i, p in enumerate(fit_paths):
        feats.append(int8_runner.outputs(datasets.load_image(p, shape.shape_hw, shape.resize)[None]))
        progress("int8 features of training images", i + 1, len(fit_paths))
    feats = np.concatenate(feats)
    val = ValidationSet.load(run.file(VALIDATION_FILE)) if run.has(VALIDATION_FILE) else None
    val_feats = feats[:0]
    held = np.array([s == "holdout" for s in val.sources], bool) if val is not None else np.zeros(0, bool)
    if val is not None:
        val_feats = np.empty((len(val),) + feats.shape[1:], feats.dtype)
        if held_back:  # the check images are the held-back ones (_check_images): already run
            val_feats[held] = outs_q
        todo = np.flatnonzero(~held) if held_back else np.arange(len(val))
        for done, i in enumerate(todo):
            val_feats[i] = int8_runner.outputs(val.images[i:i + 1])[0]
            progress("int8 features of validation images", done + 1, len(todo))
    val_labels = val.labels if val is not None else np.zeros(0, np.int64)
    density_q, threshold_q, _, val_cells_q = fomo_ad.fit_head(recipe, feats, val_feats, val_labels)
    held_cells_q = val_cells_q[held] if val is not None else val_cells_q[:0]
    given = run.manifest["threshold"] if run.manifest.get("threshold_source") == "--threshold" else None
    scale, zero = output_q
    progress("integer head", 0, 1)
    try:
        head = build_int_head(density_q, to_int8(feats, scale, zero), to_int8(val_feats, scale, zero),
                              val_labels, scale=scale, zero_point=zero, float_threshold=threshold_q,
                              bank_kb=recipe.bank_kb, given_threshold=given)
    except ValueError as exc:  # a density the integer head cannot hold
        raise QuantizeError(f"integer head: {exc}; the model was not written") from exc
    progress("integer head", 1, 1)
    run.add_file("head_int8.npz", density_q.save)
    run.add_file("head_int.npz", head.save)
    # the decision threshold of every int8 runtime: the integer head's, as a float
    run.manifest["threshold_int8"] = head.threshold / 2 ** head.frac_bits
    run.manifest["head_int"] = head.describe()
    if held_back and run.has(fomo_ad.HOLDOUT_CELLS) and len(held_cells_q):
        # the held-back images, which neither head was fitted on
        cells_f, cells_q = np.load(run.file(fomo_ad.HOLDOUT_CELLS)), held_cells_q
    else:
        cells_f, cells_q = Density.load(run.file("head.npz")).score(outs_f), density_q.score(outs_q)
    report = {"feature_correlation": corr,
              "cell_score_correlation": _correlation(cells_f, cells_q),
              "image_score_correlation": _correlation(density_q.image_scores(cells_f),
                                                      density_q.image_scores(cells_q))}
    int_cells = head.score(to_int8(outs_q, scale, zero))[0] / 2 ** head.frac_bits
    report["int_head_cell_score_correlation"] = _correlation(density_q.score(outs_q), int_cells)
    return report
