"""vadtool export: int8 .tflite copy, C array + header, float ONNX (tf2onnx); and the
`render --runtime tflm` entry point, through Click's CliRunner."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from test_tflm_project import SIZE, make_tiny_run

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
OBJ = {"quiet": True, "debug": False}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    run = make_tiny_run(tmp_path_factory.mktemp("export") / "run")
    from vadtool.rundir import Run
    from vadtool.tfenv import keras
    # a float model for the ONNX export (any Keras model of the run's input size)
    inp = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Rescaling(1 / 255)(inp)
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="relu")(x)
    model = keras.Model(inp, keras.layers.AveragePooling2D(2)(x))
    r = Run.open(run)

    def save(p):
        model.save(p.with_suffix(".keras"))
        p.with_suffix(".keras").replace(p)
    r.add_file("model.keras", save)
    r.save()
    return run


def _invoke(cmd, args):
    return CliRunner().invoke(cmd, [str(a) for a in args], obj=dict(OBJ))


def test_export_tflite_is_a_copy(tiny_run, tmp_path):
    from vadtool.commands_onnx import export
    res = _invoke(export, [tiny_run, "--format", "tflite", "--out", tmp_path / "m.tflite"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "m.tflite").read_bytes() == (tiny_run / "model_int8.tflite").read_bytes()


def test_export_c_array_parses_back_and_compiles(tiny_run, tmp_path):
    from vadtool.commands_onnx import export
    from vadtool.export import parse_c_array
    res = _invoke(export, [tiny_run, "--format", "c-array", "--out", tmp_path / "model.c"])
    assert res.exit_code == 0, res.output
    blob = (tiny_run / "model_int8.tflite").read_bytes()
    assert parse_c_array((tmp_path / "model.c").read_text()) == blob
    header = (tmp_path / "model.h").read_text()
    assert f"#define G_VAD_MODEL_DATA_LEN {len(blob)}u" in header
    if shutil.which("gcc"):
        main = tmp_path / "main.c"
        main.write_text('#include <stdio.h>\n#include <stdint.h>\n#include "model.h"\n'
                        "int main(void) { printf(\"%u %d\\n\", g_vad_model_data_len,"
                        " (int)((uintptr_t)g_vad_model_data % 16)); fwrite(g_vad_model_data, 1,"
                        " g_vad_model_data_len, stderr); return 0; }\n")
        exe = tmp_path / "a.out"
        subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-o", exe,
                        main, tmp_path / "model.c"], check=True)
        done = subprocess.run([exe], capture_output=True, check=True)
        assert done.stdout.decode().split() == [str(len(blob)), "0"]  # length, 16-byte aligned
        assert done.stderr == blob


def test_export_onnx_matches_keras(tiny_run, tmp_path):
    pytest.importorskip("tf2onnx")
    import onnxruntime as ort
    from vadtool.commands_onnx import export
    from vadtool.tfenv import keras
    res = _invoke(export, [tiny_run, "--format", "onnx", "--out", tmp_path / "m.onnx"])
    assert res.exit_code == 0, res.output
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"))
    x = np.random.default_rng(0).uniform(0, 255, (1, SIZE, SIZE, 3)).astype(np.float32)
    got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    want = np.asarray(keras.models.load_model(tiny_run / "model.keras", compile=False)(x))
    assert np.abs(got - want).max() < 1e-4


def test_export_refusals_are_one_line(tiny_run, tmp_path):
    from vadtool.errors import VadError
    from vadtool.export import export_model
    bad = tmp_path / "copy"
    shutil.copytree(tiny_run, bad)
    (bad / "model_int8.tflite").write_bytes(b"TFL3 truncated")
    with pytest.raises(VadError, match="sha256 differs"):
        export_model(bad, "c-array", tmp_path / "x.c")
    with pytest.raises(VadError, match="not a run directory"):
        export_model(tmp_path, "tflite", tmp_path / "y.tflite")
    with pytest.raises(VadError, match=r"\.c \(or \.cc\)"):
        export_model(tiny_run, "c-array", tmp_path / "x.txt")
    assert not (tmp_path / "x.c").exists() and not (tmp_path / "y.tflite").exists()


def test_render_tflm_entry_point(tiny_run, tmp_path):
    from vadtool.commands_onnx import render_tflm
    import click

    @click.command()
    def cmd():
        render_tflm(tiny_run, "host", tmp_path / "proj")
    res = CliRunner().invoke(cmd, [], obj=dict(OBJ))
    assert res.exit_code == 0, res.output
    assert "TFLite Micro" in res.output and "arena" in res.output
    assert (tmp_path / "proj" / "vadtool_tflm.json").is_file()
