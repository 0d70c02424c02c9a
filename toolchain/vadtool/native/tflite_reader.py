"""Read a .tflite flatbuffer into a small, plain graph description.

Uses the flatbuffer schema module that ships with ai-edge-litert (falls back to the one
inside TensorFlow), so reading a model does not import TensorFlow.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import RenderError

try:  # light import, no TensorFlow
    from ai_edge_litert import schema_py_generated as schema
except ImportError:  # pragma: no cover - depends on the installed packages
    from tensorflow.lite.python import schema_py_generated as schema  # type: ignore

OP_NAMES = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
TYPE_NAMES = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
ACTIVATION_NAMES = {v: k for k, v in vars(schema.ActivationFunctionType).items() if not k.startswith("_")}
NP_TYPES = {
    schema.TensorType.INT8: np.int8,
    schema.TensorType.UINT8: np.uint8,
    schema.TensorType.INT16: np.int16,
    schema.TensorType.INT32: np.int32,
    schema.TensorType.INT64: np.int64,
    schema.TensorType.FLOAT32: np.float32,
}


@dataclass
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str  # TensorType name, e.g. "INT8"
    scale: np.ndarray  # float32, possibly empty
    zero_point: np.ndarray  # int64, possibly empty
    quantized_dimension: int
    data: np.ndarray | None  # constant data (typed, shaped) or None for activations

    @property
    def is_const(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(NP_TYPES.get(getattr(schema.TensorType, self.dtype), np.int8)).itemsize


@dataclass
class Operator:
    index: int
    name: str  # builtin operator name, e.g. "CONV_2D"
    inputs: list[int]  # -1 for an absent optional input
    outputs: list[int]
    options: dict = field(default_factory=dict)


@dataclass
class Graph:
    path: str
    model_hash: str
    tensors: list[Tensor]
    operators: list[Operator]
    inputs: list[int]
    outputs: list[int]


def _options(op) -> dict:
    opts = op.builtinOptions
    if opts is None:
        return {}
    return {k: v for k, v in vars(opts).items()}


def read_tflite(path: str | Path) -> Graph:
    path = Path(path)
    try:
        buf = path.read_bytes()
    except OSError as exc:
        raise RenderError(f"{path}: cannot read the model: {exc.strerror}") from exc
    model_hash = hashlib.sha256(buf).hexdigest()
    try:
        if len(buf) < 8 or buf[4:8] != b"TFL3":
            raise ValueError("missing the TFL3 identifier")
        model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(buf, 0))
    except Exception as exc:  # noqa: BLE001 - any parse failure is a corrupt file
        raise RenderError(f"{path.name}: not a valid .tflite model ({exc})") from exc
    if not model.subgraphs or len(model.subgraphs) != 1:
        raise RenderError(f"{path.name}: expected exactly one subgraph, found {len(model.subgraphs or [])}")
    g = model.subgraphs[0]

    tensors = []
    for i, t in enumerate(g.tensors or []):
        q = t.quantization
        scale = np.asarray(q.scale if q is not None and q.scale is not None else [], np.float32)
        zp = np.asarray(q.zeroPoint if q is not None and q.zeroPoint is not None else [], np.int64)
        qdim = int(q.quantizedDimension) if q is not None else 0
        shape = tuple(int(s) for s in (t.shape if t.shape is not None else []))
        data = None
        b = model.buffers[t.buffer] if t.buffer < len(model.buffers) else None
        raw = None
        if b is not None and b.data is not None and len(b.data):
            raw = np.asarray(b.data, np.uint8).tobytes()
        elif b is not None and getattr(b, "offset", 0) and b.offset > 1:
            raw = buf[b.offset : b.offset + b.size]
        if raw is not None:
            np_type = NP_TYPES.get(t.type)
            if np_type is None:
                data = np.frombuffer(raw, np.uint8).copy()
            else:
                data = np.frombuffer(raw, np_type).copy()
                if data.size == int(np.prod(shape, dtype=np.int64)):
                    data = data.reshape(shape)
        name = t.name.decode() if isinstance(t.name, bytes) else str(t.name)
        tensors.append(
            Tensor(i, name, shape, TYPE_NAMES.get(t.type, str(t.type)), scale, zp, qdim, data)
        )

    ops = []
    for i, o in enumerate(g.operators or []):
        oc = model.operatorCodes[o.opcodeIndex]
        code = max(int(oc.builtinCode), int(oc.deprecatedBuiltinCode))
        name = OP_NAMES.get(code, f"BUILTIN_{code}")
        if code == schema.BuiltinOperator.CUSTOM:
            cc = oc.customCode.decode() if isinstance(oc.customCode, bytes) else oc.customCode
            name = f"CUSTOM({cc})"
        ops.append(
            Operator(
                i,
                name,
                [int(x) for x in (o.inputs if o.inputs is not None else [])],
                [int(x) for x in (o.outputs if o.outputs is not None else [])],
                _options(o),
            )
        )
    return Graph(
        str(path),
        model_hash,
        tensors,
        ops,
        [int(x) for x in g.inputs],
        [int(x) for x in g.outputs],
    )
