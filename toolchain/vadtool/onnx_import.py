"""ONNX import: an ONNX image model -> a run directory with float and full-int8 TFLite.

    import_onnx(onnx_path, out, kind="backbone"|"classifier", calib_dir, preprocess) -> Run
    fit_fomo_ad_head(backbone, data_root, out, recipe, threshold) -> Run

The ONNX graph is converted with onnx2tf 1.28 (NCHW inputs become NHWC; an NHWC input is
kept as it is), then wrapped so that, like every vadtool model, it takes RGB pixels 0..255
NHWC and does its own scaling (``--preprocess``: imagenet mean/std, /255, or raw). The float
TFLite is checked against onnxruntime on the calibration images (a large error refuses the
import); the int8 model is calibrated on the same images with the input pinned to 0..255
(int8 input = pixel - 128). onnx2tf never downloads its sample images here: its helper is
given the user's calibration images instead.

An imported backbone (kind "backbone") is not yet a detector: fit_fomo_ad_head fits the
FOMO-AD density on its int8 features (the kernels that run on the device) and writes a
"fomo-ad" run that evaluate, render and bench use like a trained one. Runs made here hold
model_float.tflite instead of model.keras (the float runtime would need a TFLite runner).
Everything is built in a temporary folder and renamed at the end: a failed import leaves
nothing behind.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import data as datasets, validation
from .errors import DatasetError, ModelError, QuantizeError, VadError
from .geometry import InputGeometry

if TYPE_CHECKING:
    from .rundir import Run

KINDS = ("backbone", "classifier")
PREPROCESS = {  # pixel p in 0..255 -> (p * a - b) per channel, what the ONNX model expects
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "unit": ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
    "raw": None,
}
MAX_RELATIVE_ERROR = 1e-3  # float TFLite vs onnxruntime, relative to the output's range


class OnnxImportError(ModelError):
    """The ONNX model cannot be imported."""


def _fail(path: Path, why: str) -> OnnxImportError:
    return OnnxImportError(f"{path}: {why}")


# ---------------------------------------------------------------- inspect the ONNX graph

def inspect_onnx(path: Path) -> dict:
    """Input name, layout (NCHW/NHWC), (height, width), output shape and operators; one-line
    errors for a truncated file, several inputs, dynamic spatial sizes."""
    import onnx
    path = Path(path)
    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
    except Exception as exc:  # DecodeError, ValidationError, ...
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise _fail(path, f"not a valid ONNX model ({first}); is the file truncated? export it again") from exc
    graph = model.graph
    inits = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in inits]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise _fail(path, f"{len(inputs)} inputs and {len(graph.output)} outputs; vadtool imports "
                          "image models with one input and one output")
    inp = inputs[0]
    ttype = inp.type.tensor_type
    if ttype.elem_type != onnx.TensorProto.FLOAT:
        raise _fail(path, f"input {inp.name!r} is {onnx.TensorProto.DataType.Name(ttype.elem_type)}, "
                          "not float32")
    dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else (d.dim_param or "?")
            for d in ttype.shape.dim]
    if len(dims) != 4:
        raise _fail(path, f"input {inp.name!r} has shape {dims}; expected an image batch (N, C, H, W) "
                          "or (N, H, W, C)")
    if not isinstance(dims[0], int) or dims[0] != 1:
        raise _fail(path, f"input {inp.name!r} has batch size {dims[0]!r}; export it with a fixed "
                          "batch of 1 (torch.onnx.export without dynamic_axes)")
    if dims[1] in (1, 3) and not (dims[3] in (1, 3) and isinstance(dims[1], int) and dims[1] > dims[3]):
        layout, (c, h, w) = "NCHW", dims[1:]
    elif dims[3] in (1, 3):
        layout, (h, w, c) = "NHWC", dims[1:]
    else:
        raise _fail(path, f"input {inp.name!r} has shape {dims}: neither NCHW nor NHWC with 3 "
                          "channels (dynamic sizes must be fixed at export)")
    if not (isinstance(h, int) and isinstance(w, int)):
        raise _fail(path, f"input {inp.name!r} has dynamic spatial size {dims}; export it with a "
                          "fixed input size (torch.onnx.export without dynamic_axes)")
    if c != 3:
        raise _fail(path, f"input has {c} channel(s); vadtool feeds RGB images (3 channels)")
    out = graph.output[0]
    out_dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
                for d in out.type.tensor_type.shape.dim]
    ops = sorted({n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}.{n.op_type}"
                  for n in graph.node})
    return {"input_name": inp.name, "layout": layout, "shape_hw": (int(h), int(w)), "output_name": out.name,
            "output_shape": out_dims, "ops": ops,
            "opset": max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)}


# ---------------------------------------------------------------- convert

def _calibration(calib_dir: Path, shape_hw: tuple[int, int]) -> tuple[np.ndarray, list[Path]]:
    from .quantize import calibration_files
    paths = calibration_files(calib_dir)
    return np.stack([datasets.load_image(p, shape_hw) for p in paths]), paths


def _onnx_input(images: np.ndarray, info: dict, preprocess: str) -> np.ndarray:
    x = images.astype(np.float32)
    spec = PREPROCESS[preprocess]
    if spec is not None:
        mean, std = (np.asarray(v, np.float32) for v in spec)
        x = (x / 255.0 - mean) / std
    return x.transpose(0, 3, 1, 2).copy() if info["layout"] == "NCHW" else x


def _run_onnx(path: Path, info: dict, images: np.ndarray, preprocess: str) -> np.ndarray:
    import onnxruntime as ort
    try:
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types
        raise _fail(path, f"onnxruntime cannot load it ({str(exc).splitlines()[0][:160]})") from exc
    x = _onnx_input(images, info, preprocess)
    return np.concatenate([sess.run(None, {info["input_name"]: x[i:i + 1]})[0] for i in range(len(x))])


def _onnx2tf(path: Path, info: dict, workdir: Path, sample: np.ndarray):
    """onnx2tf's tf_keras model of the graph; its sample-image download replaced by `sample`."""
    try:
        import onnx2tf
        import onnx2tf.onnx2tf as o2t_main
    except ImportError as exc:
        raise OnnxImportError(f"ONNX import needs onnx2tf 1.28 and its helpers "
                           f"(pip install onnx2tf==1.28.8 tf_keras onnx-graphsurgeon sng4onnx "
                           f"onnxruntime psutil): {exc}") from exc
    from .tfenv import captured_output
    saved = o2t_main.download_test_image_data
    o2t_main.download_test_image_data = lambda: sample  # offline: never fetch sample images
    kwargs = dict(input_onnx_file_path=str(path), output_folder_path=str(workdir / "saved_model"),
                  non_verbose=True, not_use_onnxsim=True, disable_model_save=True)
    if info["layout"] == "NHWC":
        kwargs["keep_nwc_or_nhwc_or_ndhwc_input_names"] = [info["input_name"]]
    import contextlib
    import io
    import re
    import warnings
    cap, said_py = captured_output(), io.StringIO()  # its C++ chatter, and its print()s
    try:
        with cap, contextlib.redirect_stdout(said_py), contextlib.redirect_stderr(said_py), \
                warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = onnx2tf.convert(**kwargs)
    except (Exception, SystemExit) as exc:  # onnx2tf reports errors by sys.exit(1)
        text = re.sub(r"\x1b\[[0-9;]*m", "", said_py.getvalue() + getattr(cap, "text", ""))
        said = [ln.strip() for ln in text.splitlines() if "ERROR" in ln]
        why = said[0] if said else (str(exc).splitlines() or [type(exc).__name__])[0]
        raise _fail(path, f"onnx2tf cannot convert it ({why[:200]}); operators: "
                          f"{', '.join(info['ops'])}") from None
    finally:
        o2t_main.download_test_image_data = saved
    if model is None:
        raise _fail(path, "onnx2tf produced no model; operators: " + ", ".join(info["ops"]))
    return model


def _probabilities(outputs: np.ndarray) -> bool:
    return bool((outputs >= -1e-6).all() and (outputs <= 1 + 1e-6).all()
                and np.allclose(outputs.sum(-1), 1.0, atol=1e-3))


def _wrapped_function(model, shape_hw: tuple[int, int], preprocess: str, softmax: bool = False):
    """tf.function taking (1, H, W, 3) float pixels 0..255, applying the preprocessing."""
    from .tfenv import tf
    spec = PREPROCESS[preprocess]
    if spec is None:
        a, b = np.ones(3, np.float32), np.zeros(3, np.float32)
    else:
        mean, std = (np.asarray(v, np.float64) for v in spec)
        a, b = (1.0 / (255.0 * std)).astype(np.float32), (mean / std).astype(np.float32)
    # x * a + (-b): MUL and ADD, which every vadtool runtime has (the native one has no SUB)
    a_t, nb_t = tf.constant(a.reshape(1, 1, 1, 3)), tf.constant(-b.reshape(1, 1, 1, 3))

    @tf.function(input_signature=[tf.TensorSpec((1, *shape_hw, 3), tf.float32, name="image")])
    def run(x):
        y = model(x * a_t + nb_t if preprocess != "raw" else x)
        y = y[0] if isinstance(y, (list, tuple)) else y
        return tf.nn.softmax(y, axis=-1) if softmax else y
    return run


def _convert(fn, model, calib: np.ndarray | None) -> bytes:
    from .quantize import run_converter
    from .tfenv import tf
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], model)
    return run_converter(converter, calib)


def _run_tflite(path: Path, images: np.ndarray) -> np.ndarray:
    from ai_edge_litert import interpreter as litert
    interp = litert.Interpreter(model_path=str(path),
                                experimental_op_resolver_type=litert.OpResolverType.BUILTIN_REF)
    interp.allocate_tensors()
    i, o = interp.get_input_details()[0]["index"], interp.get_output_details()[0]["index"]
    outs = []
    for image in images:
        interp.set_tensor(i, image[None].astype(np.float32))
        interp.invoke()
        outs.append(interp.get_tensor(o)[0].copy())
    return np.stack(outs)


def _to_tflite_layout(ref: np.ndarray, tfl_shape: tuple) -> np.ndarray:
    """onnxruntime's output in the TFLite model's layout (NCHW -> NHWC when that is the change)."""
    if ref.shape[1:] == tuple(tfl_shape):
        return ref
    if ref.ndim == 4 and ref.transpose(0, 2, 3, 1).shape[1:] == tuple(tfl_shape):
        return ref.transpose(0, 2, 3, 1)
    raise QuantizeError(f"converted output {list(tfl_shape)} does not match the ONNX output "
                        f"{list(ref.shape[1:])}")


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    if not (np.isfinite(a).all() and np.isfinite(b).all()) or a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def import_onnx(onnx_path, out, *, kind: str = "backbone", calib_dir=None,
                preprocess: str = "imagenet", progress=None) -> "Run":
    """Convert, check and quantize an ONNX model into a new run directory (see module doc)."""
    from .quantize import tensor_quantization
    from .rundir import sha256
    from .train import staged_run
    progress = progress or (lambda what, done, total: None)
    started = time.perf_counter()
    onnx_path = Path(onnx_path)
    if kind not in KINDS:
        raise VadError(f"--kind {kind!r}; choose one of {', '.join(KINDS)}")
    if preprocess not in PREPROCESS:
        raise VadError(f"--preprocess {preprocess!r}; choose one of {', '.join(PREPROCESS)}")
    if calib_dir is None:
        raise DatasetError("ONNX import needs calibration images: give --calib DIR (normal images)")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ModelError(f"{out}: exists and is not empty; choose another --out or delete it")
    info = inspect_onnx(onnx_path)
    shape_hw = info["shape_hw"]
    progress("load calibration images", 0, 1)
    calib, calib_paths = _calibration(calib_dir, shape_hw)
    progress("load calibration images", 1, 1)
    reference = _run_onnx(onnx_path, info, calib, preprocess)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.onnx2tf.", dir=out.parent))
    try:
        progress("convert with onnx2tf", 0, 1)
        sample = _onnx_input(calib[:1], {"layout": "NHWC"}, preprocess)  # onnx2tf's self-check
        model = _onnx2tf(onnx_path, info, work, sample)
        fn = _wrapped_function(model, shape_hw, preprocess)
        float_blob = _convert(fn, model, None)
        progress("convert with onnx2tf", 1, 1)
        (work / "float.tflite").write_bytes(float_blob)
        got = _run_tflite(work / "float.tflite", calib)
        ref = _to_tflite_layout(reference, got.shape[1:])
        max_err = float(np.abs(got - ref).max())
        rel = max_err / max(float(np.abs(ref).max()), 1e-12)
        if not np.isfinite(got).all() or rel > MAX_RELATIVE_ERROR:
            raise QuantizeError(f"{onnx_path}: the converted float model differs from onnxruntime by "
                                f"{max_err:.3g} ({rel:.2%} of the output range, limit "
                                f"{MAX_RELATIVE_ERROR:.1%}); nothing was written")
        out_shape = list(got.shape[1:])
        if kind == "classifier" and (len(out_shape) != 1 or out_shape[0] < 2):
            raise _fail(onnx_path, f"--kind classifier needs a vector of class scores, the output is "
                                   f"{out_shape}; import it as --kind backbone")
        if kind == "backbone" and len(out_shape) != 3:
            raise _fail(onnx_path, f"--kind backbone needs a feature map (H, W, C), the output is "
                                   f"{out_shape}; import it as --kind classifier")
        softmax_added = False
        if kind == "classifier" and not _probabilities(got):  # logits: append a softmax
            fn = _wrapped_function(model, shape_hw, preprocess, softmax=True)
            float_blob = _convert(fn, model, None)
            (work / "float.tflite").write_bytes(float_blob)
            got, softmax_added = _run_tflite(work / "float.tflite", calib), True
        progress("quantize to int8", 0, 1)
        int8_blob = _convert(fn, model, calib)
        progress("quantize to int8", 1, 1)
        (work / "int8.tflite").write_bytes(int8_blob)
        (in_s, in_z), (out_s, out_z) = tensor_quantization(work / "int8.tflite")
        if abs(in_s - 1.0) > 1e-6 or in_z != -128:
            raise QuantizeError(f"int8 input quantization is scale {in_s}, zero point {in_z}; "
                                "expected 1.0 and -128 (pixel - 128)")
        from .runners import LiteRTRunner
        q = LiteRTRunner(work / "int8.tflite").outputs(calib)
        corr = _correlation(got, q)
        from .quantize import MIN_CORRELATION
        if not corr >= MIN_CORRELATION:
            raise QuantizeError(f"{onnx_path}: int8 outputs are broken (correlation with float "
                                f"{corr:.3f}, minimum {MIN_CORRELATION}); try more calibration images")
        fields = {"recipe": {"source": "onnx", "preprocess": preprocess},
                  "data": {"root": str(Path(calib_dir).resolve()), "layout": "calibration images",
                           "counts": {}}}
        with staged_run(out, "backbone" if kind == "backbone" else "classifier", **fields) as run:
            run.manifest.update({
                "input": InputGeometry(*shape_hw, "squash").to_json(),
                "output": ({"grid": out_shape[:2], "channels": out_shape[2]} if kind == "backbone"
                           else {"classes": [f"class_{i}" for i in range(out_shape[0] - 1)] + ["anomalous"]}),
                "onnx": {"file": str(onnx_path.resolve()), "sha256": sha256(onnx_path),
                         "layout": info["layout"], "opset": info["opset"], "operators": info["ops"],
                         "onnx_output": info["output_shape"], "tflite_output": out_shape,
                         "softmax_added": softmax_added,
                         "float_check": {"images": len(calib), "max_abs_error": max_err,
                                         "relative_error": rel, "limit": MAX_RELATIVE_ERROR}},
                "threshold": 0.5 if kind == "classifier" else None,
                "threshold_source": "default 0.5" if kind == "classifier" else "fitted by train fomo-ad --backbone",
                "train_images": [],
                "quantization": {"calibration": f"{calib_dir} ({len(calib)})", "input_scale": in_s,
                                 "input_zero_point": in_z, "output_scale": out_s,
                                 "output_zero_point": out_z, "model_bytes": len(int8_blob),
                                 "output_correlation": corr},
            })
            run.add_file("model_float.tflite", lambda p: p.write_bytes(float_blob))
            run.add_file("model_int8.tflite", lambda p: p.write_bytes(int8_blob))
            run.manifest["train_seconds"] = round(time.perf_counter() - started, 2)
        return run
    finally:
        shutil.rmtree(work, ignore_errors=True)


class FloatTFLiteRunner:
    """The "float" runtime of an imported run: model_float.tflite (no model.keras there).
    runners.make_runner can return it when a run has model_float.tflite and no model.keras."""

    name = "float"

    def __init__(self, run):
        self.path = run.file("model_float.tflite")

    def outputs(self, images: np.ndarray) -> np.ndarray:
        return _run_tflite(self.path, images)


# ---------------------------------------------------------------- FOMO-AD head on an imported backbone

def fit_fomo_ad_head(backbone, data_root, out, recipe=None, threshold: float | None = None,
                     calib_dir=None, preprocess: str = "imagenet", progress=None) -> "Run":
    """A "fomo-ad" run from an imported backbone (a run of kind "backbone", or an .onnx file,
    imported first with calib_dir or the data's normal training images): the density is fitted
    on the int8 model's features of the normal training images (LiteRT reference kernels,
    bit-exact with TFLM), the threshold on held-back normal images, as train fomo-ad does."""
    from .models import fomo_ad
    from .models.int_head import build_int_head, to_int8
    from .quantize import tensor_quantization
    from .rundir import Run
    from .runners import LiteRTRunner
    from .train import data_fields, relative_paths, staged_run
    progress = progress or (lambda what, done, total: None)
    started = time.perf_counter()
    recipe = recipe or fomo_ad.FomoAdRecipe()
    backbone, out = Path(backbone), Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ModelError(f"{out}: exists and is not empty; choose another --out or delete it")
    out.parent.mkdir(parents=True, exist_ok=True)
    ds = datasets.discover(data_root)
    normals = [s for s in ds.split("train") if s.label == 0]
    tmp_import = None
    try:
        if backbone.suffix.lower() == ".onnx":
            tmp_import = Path(tempfile.mkdtemp(prefix=".vadtool-import.", dir=Path(out).parent))
            calib = calib_dir or Path(ds.root) / "train" / "good"
            if calib_dir is None and not calib.is_dir():
                calib = ds.root
            source = import_onnx(backbone, tmp_import / "run", kind="backbone", calib_dir=calib,
                                 preprocess=preprocess, progress=progress)
        else:
            source = Run.open(backbone)
        if source.kind != "backbone":
            raise ModelError(f"{backbone}: a {source.kind} run, not an imported backbone; give the "
                             "folder `vadtool import --kind backbone` wrote, or an .onnx file")
        shape = InputGeometry.from_manifest(source.manifest)
        int8_path = source.file("model_int8.tflite")
        float_path = source.file("model_float.tflite")
        images = datasets.load_images(normals, shape.shape_hw, shape.resize,
                                      progress=lambda d, t: progress("load train images", d, t))
        runner = LiteRTRunner(int8_path)
        feats_q = np.concatenate([runner.outputs(images[i:i + 1]) for i in range(len(images))])
        feats_f = _run_tflite(float_path, images)
        fit_idx, hold_idx = fomo_ad.split_holdout(len(normals), recipe.holdout)
        val = validation.build(images[hold_idx], validation.synthetic_anomalies(images[hold_idx], seed=0))
        val_q = np.concatenate([feats_q[:0]] + [runner.outputs(val.images[i:i + 1]) for i in range(len(val))])
        progress("fit density", 0, 1)
        density_q, auto_q, auto_source, _ = fomo_ad.fit_head(recipe, feats_q[fit_idx], val_q, val.labels)
        density_f = fomo_ad.fit_density(recipe, feats_f[fit_idx])  # the float runtime's head
        (_, _), (out_scale, out_zero) = tensor_quantization(int8_path)
        q_feats = to_int8(feats_q, out_scale, out_zero)
        head = build_int_head(density_q, q_feats[fit_idx], to_int8(val_q, out_scale, out_zero), val.labels,
                              scale=out_scale, zero_point=out_zero, float_threshold=auto_q,
                              bank_kb=recipe.bank_kb, given_threshold=threshold)
        progress("fit density", 1, 1)
        m = source.manifest
        with staged_run(out, "fomo-ad", recipe={**recipe.to_json(), "backbone_run": str(source.path)},
                        data=data_fields(ds)) as run:
            run.manifest.update({
                "input": m["input"], "output": m["output"], "onnx": m.get("onnx"),
                "threshold": float(threshold) if threshold is not None else auto_q,
                "threshold_int8": head.threshold / 2 ** head.frac_bits, "head_int": head.describe(),
                "threshold_source": "--threshold" if threshold is not None else auto_source,
                "holdout_images": relative_paths(ds, [normals[i] for i in hold_idx]),
                "train_images": relative_paths(ds, [normals[i] for i in fit_idx]),
                "head_params": density_q.n_params, "quantization": m["quantization"],
            })
            run.add_file("model_float.tflite", lambda p: shutil.copyfile(float_path, p))
            run.add_file("model_int8.tflite", lambda p: shutil.copyfile(int8_path, p))
            run.add_file("head.npz", density_f.save)
            run.add_file("head_int8.npz", density_q.save)
            run.add_file("head_int.npz", head.save)
            run.manifest["train_seconds"] = round(time.perf_counter() - started, 2)
        return run
    finally:
        if tmp_import is not None:
            shutil.rmtree(tmp_import, ignore_errors=True)
