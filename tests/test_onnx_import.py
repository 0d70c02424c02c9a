"""ONNX import (vadtool.onnx_import): small ONNX models built here with onnx.helper, NCHW and
NHWC, converted with onnx2tf, checked against onnxruntime, quantized; bad models refused
with one line and nothing written. Nothing is downloaded."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnx2tf")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

SIZE = 32
OBJ = {"quiet": True, "debug": False}


def _model(nodes, inits, in_shape, out_shape, path: Path, extra_opsets=()) -> Path:
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13), *extra_opsets])
    m.ir_version = 8
    onnx.save(m, str(path))
    return path


def _weights(seed: int = 0):
    rng = np.random.default_rng(seed)
    return (numpy_helper.from_array(rng.normal(0, 0.3, (8, 3, 3, 3)).astype(np.float32), "W"),
            numpy_helper.from_array(rng.normal(0, 0.1, 8).astype(np.float32), "B"),
            numpy_helper.from_array(rng.normal(0, 0.3, (4, 8, 1, 1)).astype(np.float32), "W2"))


def _backbone_nodes(inp: str, out: str):
    return [helper.make_node("Conv", [inp, "W", "B"], ["c1"], strides=[2, 2], pads=[1, 1, 1, 1],
                             kernel_shape=[3, 3]),
            helper.make_node("Relu", ["c1"], ["r1"]),
            helper.make_node("Conv", ["r1", "W2"], [out], kernel_shape=[1, 1])]


def nchw_backbone(path: Path, batch=1, side=SIZE) -> Path:
    return _model(_backbone_nodes("x", "y"), list(_weights()), [batch, 3, side, side],
                  [batch, 4, 16, 16], path)


def nhwc_backbone(path: Path) -> Path:
    nodes = [helper.make_node("Transpose", ["x"], ["xt"], perm=[0, 3, 1, 2])]
    nodes += _backbone_nodes("xt", "yt")
    nodes += [helper.make_node("Transpose", ["yt"], ["y"], perm=[0, 2, 3, 1])]
    return _model(nodes, list(_weights(1)), [1, SIZE, SIZE, 3], [1, 16, 16, 4], path)


def nchw_classifier(path: Path) -> Path:
    rng = np.random.default_rng(2)
    fc = numpy_helper.from_array(rng.normal(0, 0.5, (4, 2)).astype(np.float32), "FC")
    nodes = _backbone_nodes("x", "f") + [
        helper.make_node("GlobalAveragePool", ["f"], ["p"]),
        helper.make_node("Flatten", ["p"], ["pf"]),
        helper.make_node("MatMul", ["pf", "FC"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["y"], axis=1)]
    return _model(nodes, list(_weights(2)) + [fc], [1, 3, SIZE, SIZE], [1, 2], path)


@pytest.fixture(scope="module")
def calib(tmp_path_factory) -> Path:
    from PIL import Image
    root = tmp_path_factory.mktemp("calib")
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(root / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def nchw_run(tmp_path_factory, calib) -> Path:
    from vadtool.commands_onnx import import_cmd
    root = tmp_path_factory.mktemp("onnx")
    model = nchw_backbone(root / "nchw.onnx")
    res = CliRunner().invoke(import_cmd, [str(model), "--out", str(root / "run"), "--calib", str(calib)],
                             obj=dict(OBJ))
    assert res.exit_code == 0, res.output
    assert "NCHW input 32x32" in res.output
    return root / "run"


def _onnx_vs_int8(run: Path, onnx_path: Path, calib: Path, layout: str, shape_hw=(SIZE, SIZE)):
    """The int8 model in TFLM against onnxruntime on the calibration images."""
    import onnxruntime as ort
    from vadtool.onnx_import import _calibration, _onnx_input
    from vadtool.runners import TFLMRunner
    images, _ = _calibration(calib, shape_hw)
    sess = ort.InferenceSession(str(onnx_path))
    ref = np.concatenate([sess.run(None, {"x": x[None]})[0]
                          for x in _onnx_input(images, {"layout": layout}, "imagenet")])
    if layout == "NCHW" and ref.ndim == 4:
        ref = ref.transpose(0, 2, 3, 1)
    got = TFLMRunner(run / "model_int8.tflite").outputs(images)
    assert got.shape == ref.shape
    return ref, got


def test_nchw_backbone_imports_and_runs_in_tflm(nchw_run, calib):
    from vadtool.rundir import Run
    run = Run.open(nchw_run)
    m = run.manifest
    assert run.kind == "backbone" and m["onnx"]["layout"] == "NCHW"
    assert m["output"] == {"grid": [16, 16], "channels": 4}
    assert m["onnx"]["float_check"]["relative_error"] < 1e-4
    assert m["quantization"]["input_scale"] == 1.0 and m["quantization"]["input_zero_point"] == -128
    run.file("model_int8.tflite"), run.file("model_float.tflite")  # hashes recorded and matching
    ref, got = _onnx_vs_int8(nchw_run, Path(m["onnx"]["file"]), calib, "NCHW")
    assert np.corrcoef(ref.ravel(), got.ravel())[0, 1] > 0.99
    assert np.abs(ref - got).max() < 0.05 * np.abs(ref).max()


def test_nhwc_backbone(tmp_path, calib):
    from vadtool.onnx_import import import_onnx
    model = nhwc_backbone(tmp_path / "nhwc.onnx")
    run = import_onnx(model, tmp_path / "run", calib_dir=calib)
    assert run.manifest["onnx"]["layout"] == "NHWC"
    assert run.manifest["output"]["grid"] == [16, 16]
    ref, got = _onnx_vs_int8(run.path, model, calib, "NHWC")
    assert np.corrcoef(ref.ravel(), got.ravel())[0, 1] > 0.99


def test_non_square_backbone(tmp_path, calib):
    from vadtool.geometry import InputGeometry
    from vadtool.onnx_import import import_onnx
    model = _model(_backbone_nodes("x", "y"), list(_weights()), [1, 3, 32, 64], [1, 4, 16, 32],
                   tmp_path / "wide.onnx")
    run = import_onnx(model, tmp_path / "run", calib_dir=calib)
    assert InputGeometry.from_manifest(run.manifest).shape_hw == (32, 64)
    assert run.manifest["output"]["grid"] == [16, 32]
    ref, got = _onnx_vs_int8(run.path, model, calib, "NCHW", (32, 64))
    assert np.corrcoef(ref.ravel(), got.ravel())[0, 1] > 0.99


def test_classifier(tmp_path, calib):
    from vadtool.onnx_import import import_onnx
    run = import_onnx(nchw_classifier(tmp_path / "cls.onnx"), tmp_path / "run", kind="classifier",
                      calib_dir=calib)
    assert run.kind == "classifier"
    assert run.manifest["output"]["classes"] == ["class_0", "anomalous"]
    assert run.manifest["threshold"] == 0.5
    assert not run.manifest["onnx"]["softmax_added"]


def test_classifier_logits_get_a_softmax(tmp_path, calib):
    from vadtool.onnx_import import import_onnx
    from vadtool.runners import LiteRTRunner
    from vadtool.rundir import Run
    model = onnx.load(str(nchw_classifier(tmp_path / "cls.onnx")))
    model.graph.node[-1].CopyFrom(helper.make_node("Identity", ["logits"], ["y"]))
    onnx.save(model, str(tmp_path / "logits.onnx"))
    run = import_onnx(tmp_path / "logits.onnx", tmp_path / "run", kind="classifier", calib_dir=calib)
    assert run.manifest["onnx"]["softmax_added"]
    probs = LiteRTRunner(Run.open(run.path).file("model_int8.tflite")).outputs(
        np.full((2, SIZE, SIZE, 3), 100, np.uint8))
    assert np.allclose(probs.sum(-1), 1.0, atol=0.02)


def test_backbone_then_fomo_ad_head_then_tflm_project(nchw_run, tmp_path):
    """An imported backbone + the FOMO-AD head = a run the rest of vadtool deploys."""
    from vadtool.onnx_import import fit_fomo_ad_head
    from vadtool.rundir import Run
    from vadtool.runners import LiteRTRunner
    from vadtool.synth import make_dataset
    from vadtool.tflm_project import write_tflm_project
    data = make_dataset(tmp_path / "data", seed=1, size=48, n_train=10)
    from vadtool.models.fomo_ad import FomoAdRecipe
    c_head = FomoAdRecipe(density="gaussian", image_score="max")  # a head that also runs in C
    run = fit_fomo_ad_head(nchw_run, data, tmp_path / "fomo", c_head)
    r = Run.open(run.path)
    assert r.kind == "fomo-ad" and r.has("head_int8.npz") and r.has("head.npz")
    assert r.manifest["threshold_int8"] > -np.inf and r.manifest["holdout_images"]
    assert LiteRTRunner(r.file("model_int8.tflite")).outputs(
        np.zeros((1, SIZE, SIZE, 3), np.uint8)).shape == (1, 16, 16, 4)
    summary = write_tflm_project(run.path, "qemu-an386", tmp_path / "proj")
    assert summary["operators"] and (tmp_path / "proj" / "src" / "vad_head.c").is_file()
    # the preprocessing wrapper uses only operators the native runtime has: native == TFLM
    from vadtool.runners import NativeInt8Runner, TFLMRunner
    x = np.random.default_rng(0).integers(-128, 128, (2, SIZE, SIZE, 3)).astype(np.int8)
    tflite = r.file("model_int8.tflite")
    assert np.array_equal(NativeInt8Runner(tflite).run_int8(x), TFLMRunner(tflite).run_int8(x))
    from vadtool.onnx_import import FloatTFLiteRunner
    assert FloatTFLiteRunner(r).outputs(np.zeros((1, SIZE, SIZE, 3), np.uint8)).shape == (1, 16, 16, 4)
    from vadtool.errors import VadError
    from vadtool.export import export_model
    with pytest.raises(VadError, match="that file is its float ONNX model"):
        export_model(run.path, "onnx", tmp_path / "x.onnx")


def test_fomo_ad_head_straight_from_an_onnx_file(tmp_path):
    """train fomo-ad DATA --backbone MODEL.onnx: imported on the data's normal images, then fitted."""
    from vadtool.onnx_import import fit_fomo_ad_head
    from vadtool.synth import make_dataset
    data = make_dataset(tmp_path / "data", seed=2, size=48, n_train=10)
    run = fit_fomo_ad_head(nhwc_backbone(tmp_path / "nhwc.onnx"), data, tmp_path / "runs" / "fomo",
                           preprocess="unit")
    assert run.kind == "fomo-ad" and run.manifest["onnx"]["layout"] == "NHWC"
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["fomo"]  # no temporary left


def _refused(tmp_path, calib, model: Path, match: str):
    from vadtool.errors import VadError
    from vadtool.onnx_import import import_onnx
    before = set(tmp_path.iterdir())
    with pytest.raises(VadError, match=match) as info:
        import_onnx(model, tmp_path / "out", calib_dir=calib)
    assert "\n" not in str(info.value)
    assert set(tmp_path.iterdir()) == before  # nothing written, no temporary left
    return str(info.value)


def test_truncated_model_is_refused(tmp_path, calib):
    good = nchw_backbone(tmp_path / "good.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    _refused(tmp_path, calib, bad, "not a valid ONNX model")


def test_dynamic_sizes_are_refused(tmp_path, calib):
    _refused(tmp_path, calib, nchw_backbone(tmp_path / "b.onnx", batch="N"), "batch size 'N'")
    _refused(tmp_path, calib, nchw_backbone(tmp_path / "s.onnx", side="H"), "dynamic spatial size")


def test_unsupported_operator_is_refused(tmp_path, calib):
    nodes = _backbone_nodes("x", "f") + [helper.make_node("LpPool", ["f"], ["y"], kernel_shape=[2, 2],
                                                          strides=[2, 2], p=2)]
    model = _model(nodes, list(_weights()), [1, 3, SIZE, SIZE], [1, 4, 8, 8], tmp_path / "lp.onnx")
    msg = _refused(tmp_path, calib, model, "onnx2tf cannot convert it")
    assert "LpPool" in msg and "\x1b" not in msg


def test_cli_refusal_is_one_line_exit_2(tmp_path, calib):
    import click
    from vadtool.commands_onnx import import_cmd
    from vadtool.errors import VadError
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage")

    @click.group()
    def group():
        pass
    group.add_command(import_cmd)
    res = CliRunner().invoke(group, ["import", str(bad), "--out", str(tmp_path / "r"), "--calib", str(calib)],
                             obj=dict(OBJ))
    assert isinstance(res.exception, VadError)  # cli.py's boundary turns this into one line, exit 2
    assert not (tmp_path / "r").exists()
    nodes = _backbone_nodes("x", "f") + [helper.make_node("LpPool", ["f"], ["y"], kernel_shape=[2, 2],
                                                          strides=[2, 2], p=2)]
    lp = _model(nodes, list(_weights()), [1, 3, SIZE, SIZE], [1, 4, 8, 8], tmp_path / "lp.onnx")
    res = CliRunner().invoke(group, ["import", str(lp), "--out", str(tmp_path / "r"), "--calib", str(calib)],
                             obj=dict(OBJ))
    assert isinstance(res.exception, VadError) and "LpPool OP is not yet implemented" in str(res.exception)
    assert res.output == ""  # onnx2tf's own printing does not leak
