"""The TFLite Micro project (vadtool.tflm_project): model array, op resolver, arena, sources.

A tiny quantized run (32 px, a few layers, a Gaussian head on random int8 features) is built
here, so no pretrained weights are needed. These tests need no TFLM checkout: the C/C++
sources are compiled syntax-only against a small stub of the TFLM headers written below,
which checks our code, not TFLM's API, and the host build links a stand-in interpreter. The
build against real TFLite Micro, run in QEMU, is tests/device/test_tflm_on_device.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

SIZE = 32


def make_tiny_run(out: Path, kind: str = "fomo-ad", density_kind: str = "gaussian") -> Path:
    """A quantized run directory with a 32x32 model, built in seconds."""
    from vadtool.models.density import fit
    from vadtool.quantize import convert, tensor_quantization
    from vadtool.rundir import Run
    from vadtool.runners import LiteRTRunner
    from vadtool.tfenv import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Rescaling(1 / 127.5, -1.0)(inp)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu6")(x)
    x = keras.layers.DepthwiseConv2D(3, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.Conv2D(6, 1)(x)
    if kind == "fomo-ad":
        x = keras.layers.AveragePooling2D(3, strides=1, padding="same")(x)
    else:
        x = keras.layers.GlobalAveragePooling2D()(x)
        x = keras.layers.Dense(2, activation="softmax")(x)
    model = keras.Model(inp, x)
    rng = np.random.default_rng(0)
    calib = rng.integers(0, 256, (8, SIZE, SIZE, 3), dtype=np.uint8)
    blob = convert(model, calib)

    run = Run.create(out, kind, recipe={}, data={"root": str(out), "layout": "none", "counts": {}})
    run.add_file("model_int8.tflite", lambda p: p.write_bytes(blob))
    (in_s, in_z), (out_s, out_z) = tensor_quantization(out / "model_int8.tflite")
    run.manifest.update({"input": {"size": SIZE, "channels": 3, "pixels": "RGB uint8"},
                         "quantization": {"input_scale": in_s, "input_zero_point": in_z,
                                          "output_scale": out_s, "output_zero_point": out_z}})
    if kind == "fomo-ad":
        feats = LiteRTRunner(out / "model_int8.tflite").outputs(calib)
        from vadtool.models.int_head import IntHead
        density = fit(feats, density_kind)
        head = IntHead.from_density(density, scale=out_s, zero_point=out_z, grid=(8, 8),
                                    threshold=12.5, bank_kb=1)
        run.add_file("head_int8.npz", density.save)
        run.add_file("head_int.npz", head.save)
        run.manifest.update({"output": {"grid": [8, 8], "channels": 6}, "threshold": 10.0,
                             "threshold_int8": head.threshold / 2 ** head.frac_bits})
    else:
        run.manifest.update({"output": {"classes": ["normal", "anomalous"]}, "threshold": 0.5})
    run.save()
    return out


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    return make_tiny_run(tmp_path_factory.mktemp("tflm") / "run")


@pytest.fixture(scope="module")
def project(tiny_run, tmp_path_factory) -> tuple[Path, dict]:
    from vadtool.tflm_project import write_tflm_project
    out = tmp_path_factory.mktemp("tflm_out") / "proj"
    return out, write_tflm_project(tiny_run, "qemu-an386", out)


def test_model_array_is_the_tflite_byte_for_byte(project, tiny_run):
    from vadtool.export import parse_c_array
    out, summary = project
    blob = (tiny_run / "model_int8.tflite").read_bytes()
    for src in (out / "src", out / "arduino" / "vadtool_tflm" / "src"):
        text = (src / "vad_model_data.c").read_text()
        assert parse_c_array(text) == blob
        assert f"g_vad_model_data_len = {len(blob)}u" in text
        assert "aligned(16)" in text and "alignas(16)" in text
    assert summary["model_bytes"] == len(blob)


def test_resolver_lists_exactly_the_models_operators(project, tiny_run):
    from tflite_micro.python.tflite_micro import runtime
    from vadtool.native.tflite_reader import read_tflite
    out, summary = project
    flat = {op.name for op in read_tflite(tiny_run / "model_int8.tflite").operators}
    text = (out / "src" / "vad_op_resolver.h").read_text()
    import re
    methods = re.findall(r"resolver\.(Add\w+)\(\)", text)
    from vadtool.tflm_project import RESOLVER_METHODS
    by_method = {v: k for k, v in RESOLVER_METHODS.items()}
    assert {by_method[m] for m in methods} == flat
    assert len(methods) == len(flat)
    assert "MicroMutableOpResolver<VAD_RESOLVER_OPS>" in text
    assert f"#define VAD_RESOLVER_OPS {len(flat)}" in text
    assert set(summary["operators"]) == flat
    # the TFLM interpreter has every one of these operators: it runs the model
    interp = runtime.Interpreter.from_file(str(tiny_run / "model_int8.tflite"))
    interp.set_input(np.zeros((1, SIZE, SIZE, 3), np.int8), 0)
    interp.invoke()


def test_arena_is_measured_and_tight(project, tiny_run):
    from vadtool.tflm_arena import fits
    out, summary = project
    arena = summary["arena"]
    tflite = tiny_run / "model_int8.tflite"
    assert arena["measured_bytes"] % 1024 == 0
    assert fits(tflite, arena["measured_bytes"])
    assert not fits(tflite, arena["measured_bytes"] - 1024)
    assert fits(tflite, arena["bytes"])  # the stated arena, margin included
    assert arena["bytes"] == arena["measured_bytes"] + arena["margin_bytes"] >= arena["measured_bytes"] + 2048
    settings = (out / "src" / "vad_model_settings.h").read_text()
    assert f"#define VAD_ARENA_BYTES {arena['bytes']}" in settings
    assert f"#define VAD_ARENA_MEASURED_BYTES {arena['measured_bytes']}" in settings


def test_settings_follow_the_manifest(project, tiny_run):
    out, _ = project
    m = json.loads((tiny_run / "vadtool.json").read_text())
    s = (out / "src" / "vad_model_settings.h").read_text()
    assert f"#define VAD_INPUT_H {SIZE}" in s and "#define VAD_INPUT_C 3" in s
    assert f"#define VAD_INPUT_BYTES {SIZE * SIZE * 3}" in s
    assert "#define VAD_INPUT_ZERO_POINT (-128)" in s and "#define VAD_INPUT_SCALE 1.0f" in s
    assert "#define VAD_GRID_H 8" in s and "#define VAD_GRID_W 8" in s
    assert "#define VAD_THRESHOLD 12.5f" in s  # threshold_int8, not the float threshold
    assert f"#define VAD_OUTPUT_ZERO_POINT ({m['quantization']['output_zero_point']})" in s
    assert (out / "src" / "vad_head.c").is_file() and (out / "src" / "vad_head.h").is_file()
    sha = __import__("hashlib").sha256((tiny_run / "model_int8.tflite").read_bytes()).hexdigest()
    assert f'#define VAD_MODEL_HASH "{sha}"' in s


# ---------------------------------------------------------------- syntax-only compiles

STUB = {
    "tensorflow/lite/c/common.h": """
#pragma once
#include <stddef.h>
#include <stdint.h>
typedef enum { kTfLiteOk = 0, kTfLiteError = 1 } TfLiteStatus;
typedef enum { kTfLiteNoType = 0, kTfLiteFloat32 = 1, kTfLiteInt8 = 9 } TfLiteType;
typedef union { int8_t *int8; float *f; void *raw; } TfLitePtrUnion;
typedef struct { TfLiteType type; TfLitePtrUnion data; size_t bytes; } TfLiteTensor;
""",
    "tensorflow/lite/schema/schema_generated.h": """
#pragma once
#include <stdint.h>
#define TFLITE_SCHEMA_VERSION (3)
namespace tflite {
struct Model { uint32_t version() const; };
const Model *GetModel(const void *buf);
}
""",
    "tensorflow/lite/micro/micro_mutable_op_resolver.h": """
#pragma once
#include "tensorflow/lite/c/common.h"
#include "tensorflow/lite/schema/schema_generated.h"
namespace tflite {
class MicroOpResolver { public: virtual ~MicroOpResolver() {} };
template <unsigned int tOpCount> class MicroMutableOpResolver : public MicroOpResolver {
 public:
%s
};
}
""",
    "tensorflow/lite/micro/micro_interpreter.h": """
#pragma once
#include <stddef.h>
#include "tensorflow/lite/c/common.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
namespace tflite {
class MicroInterpreter {
 public:
  MicroInterpreter(const Model *model, const MicroOpResolver &op_resolver, uint8_t *tensor_arena,
                   size_t tensor_arena_size);
  TfLiteStatus AllocateTensors();
  TfLiteStatus Invoke();
  TfLiteTensor *input(size_t index);
  TfLiteTensor *output(size_t index);
  size_t arena_used_bytes() const;
};
}
""",
    "Arduino.h": """
#pragma once
#include <stddef.h>
#include <stdint.h>
struct SerialStub { void begin(unsigned long); operator bool(); int available(); int read();
  size_t write(const uint8_t *, size_t); void flush(); };
extern SerialStub Serial;
unsigned long millis(void); unsigned long micros(void); void delay(unsigned long);
""",
    "TensorFlowLite.h": "#pragma once\n",
}

# Builtin-op registration methods of TFLM's MicroMutableOpResolver, as in its header.
TFLM_ADD_METHODS = ("AddAbs AddAdd AddAddN AddArgMax AddArgMin AddAveragePool2D AddBatchToSpaceNd "
                    "AddCast AddCeil AddConcatenation AddConv2D AddCos AddCumSum AddDepthToSpace "
                    "AddDepthwiseConv2D AddDequantize AddElu AddEqual AddExp AddExpandDims AddFill "
                    "AddFloor AddFloorDiv AddFloorMod AddFullyConnected AddGather AddGatherNd "
                    "AddGreater AddGreaterEqual AddHardSwish AddIf AddL2Normalization AddL2Pool2D "
                    "AddLeakyRelu AddLess AddLessEqual AddLog AddLogicalAnd AddLogicalNot "
                    "AddLogicalOr AddLogistic AddMaximum AddMaxPool2D AddMean AddMinimum AddMul "
                    "AddNeg AddNotEqual AddPack AddPad AddPadV2 AddPrelu AddQuantize AddReduceMax "
                    "AddRelu AddRelu6 AddReshape AddResizeBilinear AddResizeNearestNeighbor AddRound "
                    "AddRsqrt AddShape AddSin AddSoftmax AddSpaceToBatchNd AddSpaceToDepth AddSplit "
                    "AddSplitV AddSqueeze AddSqrt AddSquare AddStridedSlice AddSub AddSvdf AddTanh "
                    "AddTranspose AddTransposeConv AddUnpack AddZerosLike").split()


def _stub(root: Path) -> Path:
    methods = "\n".join(f"  TfLiteStatus {m}() {{ return kTfLiteOk; }}" for m in TFLM_ADD_METHODS)
    for name, text in STUB.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text % methods if "%s" in text else text)
    return root


def _compile(compiler: str, args: list[str]) -> None:
    if shutil.which(compiler) is None:
        pytest.skip(f"{compiler} not installed")
    proc = subprocess.run([compiler, "-fsyntax-only", "-Wall", "-Wextra", "-Werror"] + args,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_sources_compile_syntax_only_against_a_tflm_stub(project, tmp_path):
    """Syntax-only against a stub of the TFLM headers: our C/C++ is well-formed and uses the
    interface consistently; it is NOT a build against real TFLite Micro."""
    out, _ = project
    stub = _stub(tmp_path / "stub")
    src = out / "src"
    _compile("g++", ["-std=c++17", f"-I{stub}", f"-I{src}", str(src / "vad_model_tflm.cc")])
    for name in ("vad_protocol.c", "vad_model_data.c", "vad_head.c"):
        _compile("gcc", ["-std=c99", f"-I{src}", str(src / name)])
    _compile("g++", ["-std=c++17", "-x", "c++", f"-I{src}", str(src / "vad_model_data.c")])
    sketch = out / "arduino" / "vadtool_tflm"
    _compile("g++", ["-std=c++17", f"-I{stub}", f"-I{sketch / 'src'}",
                     str(sketch / "src" / "vad_board_arduino.cpp")])
    _compile("g++", ["-std=c++17", "-x", "c++", f"-I{stub}", f"-I{sketch}",
                     str(sketch / "vadtool_tflm.ino")])
    _compile("gcc", ["-std=c99", f"-I{src}", f"-I{out / 'tflm' / 'board'}", str(out / "tflm" / "main.c")])


def test_plain_build_makefile_and_board(project):
    out, summary = project
    mk = (out / "tflm" / "Makefile").read_text()
    assert "CXX := arm-none-eabi-g++" in mk and "-mcpu=cortex-m4" in mk
    assert "TARGET_ARCH=cortex-m4+fp" in mk
    assert (out / "tflm" / "board" / "firmware.ld").is_file()
    assert (out / "tflm" / "board" / "board_config.h").is_file()
    assert summary["builds"]["arduino"] == "arduino/vadtool_tflm/vadtool_tflm.ino"
    assert (out / "README.md").is_file()


def test_classifier_run_has_no_head(tmp_path):
    from vadtool.tflm_project import write_tflm_project
    run = make_tiny_run(tmp_path / "cls", kind="classifier")
    summary = write_tflm_project(run, "host", tmp_path / "proj", keep_input=True)
    s = (tmp_path / "proj" / "src" / "vad_model_settings.h").read_text()
    assert "#define VAD_SERVER_INPUT_COPY 1" in s
    assert "#define VAD_NUM_CLASSES 2" in s and "#define VAD_THRESHOLD 0.5f" in s
    assert not (tmp_path / "proj" / "src" / "vad_head.c").exists()
    assert summary["head"] == []
    assert "CXX := c++" in (tmp_path / "proj" / "tflm" / "Makefile").read_text()
    assert "FULLY_CONNECTED" in summary["operators"] and "SOFTMAX" in summary["operators"]


def test_refusals_leave_nothing(tiny_run, tmp_path):
    from vadtool.errors import BuildError, ModelError, RenderError
    from vadtool.tflm_project import resolver_entries, write_tflm_project
    with pytest.raises(BuildError, match="unknown board"):
        write_tflm_project(tiny_run, "nosuchboard", tmp_path / "a")
    with pytest.raises(RenderError, match="CUSTOM\\(Foo\\)"):
        resolver_entries(["CONV_2D", "CUSTOM(Foo)"])
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x.txt").write_text("mine")
    with pytest.raises(RenderError, match="not a vadtool TFLM project"):
        write_tflm_project(tiny_run, "host", tmp_path / "busy")
    assert (tmp_path / "busy" / "x.txt").read_text() == "mine"
    with pytest.raises(ModelError, match="not a run directory"):
        write_tflm_project(tmp_path, "host", tmp_path / "b")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy"]


# ---------------------------------------------------------------- the plain build, run on the host

FAKE_TFLM = r"""
// A stand-in for TFLite Micro (test only): MicroInterpreter backed by vadtool's native C
// runtime for the same model (bit-exact with TFLM), so that the generated Makefile, the
// adapter vad_model_tflm.cc and the protocol server can be built and run on the host.
#include <string.h>
#include "tensorflow/lite/micro/micro_interpreter.h"
extern "C" int native_model_invoke(const int8_t *input, int8_t *output);
extern "C" int8_t *native_model_input_buffer(void);
namespace tflite {
static Model the_model;
uint32_t Model::version() const { return 3; }
const Model *GetModel(const void *) { return &the_model; }
static TfLiteTensor in_t, out_t;
static int8_t out_buf[FAKE_OUT_BYTES];
static size_t arena_size_given;
MicroInterpreter::MicroInterpreter(const Model *, const MicroOpResolver &, uint8_t *, size_t size) {
  arena_size_given = size;
}
TfLiteStatus MicroInterpreter::AllocateTensors() {
  in_t.type = kTfLiteInt8; in_t.data.int8 = native_model_input_buffer(); in_t.bytes = FAKE_IN_BYTES;
  out_t.type = kTfLiteInt8; out_t.data.int8 = out_buf; out_t.bytes = FAKE_OUT_BYTES;
  return kTfLiteOk;
}
TfLiteStatus MicroInterpreter::Invoke() {
  return native_model_invoke(in_t.data.int8, out_buf) == 0 ? kTfLiteOk : kTfLiteError;
}
TfLiteTensor *MicroInterpreter::input(size_t) { return &in_t; }
TfLiteTensor *MicroInterpreter::output(size_t) { return &out_t; }
size_t MicroInterpreter::arena_used_bytes() const { return arena_size_given; }
}
"""


def test_plain_build_runs_the_protocol_on_the_host(tiny_run, tmp_path):
    """The generated tflm/Makefile builds the host firmware against a FAKE TFLM library (the
    interpreter backed by vadtool's native C for the model); the device client then talks to
    it: HELLO reports the model's hash, shapes and the TFLM arena, and the outputs equal the
    real TFLM interpreter's bit for bit. Checks our adapter, settings and protocol glue, not TFLM."""
    from vadtool.tflm_project import write_tflm_project
    tflite = tiny_run / "model_int8.tflite"
    summary = write_tflm_project(tiny_run, "host", tmp_path / "proj")
    stub, lib, out_bytes = _fake_tflm(tflite, tmp_path)
    build = subprocess.run(["make", "-C", tmp_path / "proj" / "tflm", f"TFLM_DIR={stub}",
                            f"TFLM_LIB={lib}"], capture_output=True, text=True)
    assert build.returncode == 0, build.stdout + build.stderr
    assert "warning:" not in build.stderr, build.stderr
    _serve_and_compare(tmp_path / "proj" / "tflm" / "build" / "firmware", tflite, summary, out_bytes, "host")


def _need_host_tools():
    for tool in ("cc", "c++", "make", "ar"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed")


def _fake_tflm(tflite: Path, tmp_path: Path) -> tuple[Path, Path, int]:
    """(stub include dir, libfaketflm.a, output bytes): TFLM faked by the native C of the model."""
    from vadtool.native import write_model_sources
    _need_host_tools()
    stub = _stub(tmp_path / "stub")
    native = tmp_path / "native"
    info = write_model_sources(tflite, native, version="test")
    in_bytes, out_bytes = SIZE * SIZE * 3, int(np.prod(info.output_shape))
    (native / "fake_tflm.cc").write_text(FAKE_TFLM)
    objs = []
    for src in sorted(native.glob("*.c")) + [native / "fake_tflm.cc"]:
        obj = native / (src.stem + ".o")
        cc = "c++" if src.suffix == ".cc" else "cc"
        subprocess.run([cc, "-O1", "-c", f"-I{native}", f"-I{stub}", "-Dvad_model_invoke=native_model_invoke",
                        "-Dvad_model_input_buffer=native_model_input_buffer",
                        f"-DFAKE_IN_BYTES={in_bytes}", f"-DFAKE_OUT_BYTES={out_bytes}", "-o", obj, src],
                       check=True)
        objs.append(obj)
    subprocess.run(["ar", "rcs", native / "libfaketflm.a"] + objs, check=True)
    return stub, native / "libfaketflm.a", out_bytes


def _serve_and_compare(exe: Path, tflite: Path, summary: dict, out_bytes: int, board: str) -> None:
    from vadtool.device.client import DeviceClient, Timeouts
    from vadtool.runners import TFLMRunner
    rng = np.random.default_rng(1)
    x = rng.integers(-128, 128, (3, SIZE, SIZE, 3)).astype(np.int8)
    want = TFLMRunner(tflite).run_int8(x).reshape(3, -1)
    with DeviceClient.open(f"host:{exe}", timeouts=Timeouts(hello=5, frame=5, infer=10)) as dev:
        hello = dev.hello()
        assert hello.board == board
        assert hello.model_hash == summary["model_sha256"]
        assert hello.arena_bytes == summary["arena"]["bytes"]
        assert hello.input_shape == (SIZE, SIZE, 3) and hello.output_bytes == out_bytes
        assert hello.input_zero_point == -128
        for i in range(3):
            out, _ = dev.run(x[i])
            assert np.array_equal(out, want[i])


FAKE_ARDUINO = r"""
// A stand-in for the Arduino core (test only): Serial on stdin/stdout, millis/micros from
// CLOCK_MONOTONIC, and main() calling setup() then loop(). Exits when stdin closes.
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include "Arduino.h"
SerialStub Serial;
static int peeked = -1;
void SerialStub::begin(unsigned long) {}
SerialStub::operator bool() { return true; }
int SerialStub::available() {
  if (peeked >= 0) return 1;
  struct pollfd p = {0, POLLIN, 0};
  if (poll(&p, 1, 1) <= 0) return 0;
  unsigned char c;
  if (::read(0, &c, 1) != 1) exit(0);
  peeked = c;
  return 1;
}
int SerialStub::read() { if (!available()) return -1; int c = peeked; peeked = -1; return c; }
size_t SerialStub::write(const uint8_t *d, size_t n) { return (size_t)::write(1, d, n); }
void SerialStub::flush() {}
static unsigned long long now_us() {
  struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t);
  return (unsigned long long)t.tv_sec * 1000000ull + (unsigned long long)t.tv_nsec / 1000u;
}
unsigned long millis(void) { return (unsigned long)(now_us() / 1000u); }
unsigned long micros(void) { return (unsigned long)now_us(); }
void delay(unsigned long) {}
void setup();
void loop();
int main() { setup(); for (;;) loop(); }
"""


def test_arduino_sketch_links_and_serves_on_the_host(tiny_run, tmp_path):
    """The sketch with its board adapter, built for the host against a FAKE Arduino core
    (Serial on stdin/stdout) and the FAKE TFLM: checks the C/C++ linkage between the .ino, the
    C protocol server and the adapters, and the protocol end to end. Not an Arduino build."""
    from vadtool.tflm_project import write_tflm_project
    tflite = tiny_run / "model_int8.tflite"
    summary = write_tflm_project(tiny_run, "nano33ble", tmp_path / "proj")
    stub, lib, out_bytes = _fake_tflm(tflite, tmp_path)
    sketch = tmp_path / "proj" / "arduino" / "vadtool_tflm"
    (stub / "fake_arduino.cc").write_text(FAKE_ARDUINO)
    objs, build = [], tmp_path / "sketch_build"
    build.mkdir()
    sources = [(sketch / "vadtool_tflm.ino", ["c++", "-x", "c++", "-std=c++17"])]
    sources += [(p, ["cc", "-std=c99"]) for p in sorted((sketch / "src").glob("*.c"))]
    sources += [(p, ["c++", "-std=c++17"]) for p in sorted((sketch / "src").glob("*.c[cp]*"))]
    sources += [(stub / "fake_arduino.cc", ["c++", "-std=c++17"])]
    for src, cc in sources:
        obj = build / (src.name + ".o")
        done = subprocess.run(cc + ["-Wall", "-Wextra", "-Werror", "-O1", "-c", f"-I{stub}",
                                    f"-I{sketch / 'src'}", "-o", obj, src], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        objs.append(obj)
    exe = build / "sketch"
    done = subprocess.run(["c++", "-o", exe] + objs + [lib, "-lm"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr  # undefined references = C/C++ linkage mistakes
    _serve_and_compare(exe, tflite, summary, out_bytes, "nano33ble")


def test_knn_head_is_a_coreset_in_c(tmp_path):
    """A nearest-neighbour bank goes to the device as an int8 coreset within bank_kb."""
    from vadtool.tflm_project import write_tflm_project
    run = make_tiny_run(tmp_path / "knn", density_kind="knn")
    summary = write_tflm_project(run, "host", tmp_path / "proj", keep_input=True)
    assert summary["head"] == ["vad_head.h", "vad_head.c"]
    text = (tmp_path / "proj" / "src" / "vad_head.c").read_text()
    assert "static const int8_t bank[BANK_ROWS][C]" in text
    assert "#define BANK_ROWS 170\n" in text  # 1 KB of 6-channel cells


def test_build_without_a_tflm_checkout_says_how_to_get_one(project, tmp_path):
    """One line naming the official repository and the pinned commit; exit 2, no traceback."""
    import sys
    from vadtool.tflm_build import TFLM_COMMIT, TFLM_REPO
    out, _ = project
    env = {k: v for k, v in os.environ.items() if k != "TFLM_DIR"}
    done = subprocess.run([sys.executable, "-m", "vadtool.cli", "build", str(out)], capture_output=True,
                          text=True, env=env, timeout=300)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "TFLM_DIR is not set" in lines[0]
    assert TFLM_REPO in lines[0] and TFLM_COMMIT in lines[0]
    done = subprocess.run([sys.executable, "-m", "vadtool.cli", "build", str(out), "--tflm-dir", str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 2 and "is not a tflite-micro checkout" in done.stderr
    assert not (out / "build").exists()  # nothing half-written
