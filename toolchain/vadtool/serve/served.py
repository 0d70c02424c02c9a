"""A run as the service holds it: loaded once, scoring one image file at a time through
vadtool.predict's Predictor (the same runtimes, head and threshold as `vadtool predict`),
and drawing its heatmap overlay with the report's panels."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from ..errors import ModelError
from ..geometry import InputGeometry
from ..predict import Predictor, boxes
from ..rundir import Run
from ..runners import INT8_RUNTIMES, LiteRTRunner
from . import SERVE_RUNTIMES


class ServedModel:
    """One run in one runtime (or on a device at `device_port`). A lock makes it one image at a
    time: the interpreters are not thread-safe, and a device answers one request at a time."""

    def __init__(self, run_dir: Path, runtime: str = "litert", device_port: str | None = None):
        self.run = Run.open(run_dir)
        self.run_dir = Path(run_dir).resolve()
        runner = None
        if device_port:
            runner = self._device_runner(device_port)
            runtime = "device"
        elif runtime not in SERVE_RUNTIMES:
            raise ModelError(f"--runtime {runtime!r}: choose one of {', '.join(SERVE_RUNTIMES)}")
        self.runtime = runtime
        self.model_file = self._model_file(runtime)
        self.model_hash = self.run.manifest["files"][self.model_file]
        # two runs may share a network and differ in the head: the head's hash tells them apart
        head = ("head_int.npz" if self.model_file == "model_int8.tflite" else "head.npz") \
            if self.run.kind == "fomo-ad" else None
        self.head_hash = self.run.manifest["files"].get(head) if head else None
        if runtime == "litert":
            runner = LiteRTRunner(self.run.file(self.model_file), reference=False)
        self.predictor = Predictor(self.run, "litert" if runtime == "litert-ref" else runtime, runner)
        self.threshold = float(self.predictor.threshold)
        self._lock = threading.Lock()

    def _model_file(self, runtime: str) -> str:
        if runtime in INT8_RUNTIMES or runtime == "litert-ref":
            name = "model_int8.tflite"
        else:
            name = "model_float.tflite" if self.run.imported else "model.keras"
        if name not in self.run.manifest["files"]:
            raise ModelError(f"{self.run.path}: has no {name}; run `vadtool quantize {self.run.path}` "
                             f"or serve it with --runtime float")
        return name

    def _device_runner(self, port: str):
        from ..device.runner import DeviceRunner
        head = None
        if self.run.kind == "fomo-ad":
            from ..models.int_head import IntHead
            head = IntHead.load(self.run.file("head_int.npz"))
        return DeviceRunner(self.run.file("model_int8.tflite"), port, head=head)

    def close(self) -> None:
        close = getattr(self.predictor.runner, "close", None)
        if close is not None:
            close()

    def summary(self) -> dict:
        """What GET /model says about this run: a summary of its manifest."""
        m = self.run.manifest
        out = {"run": str(self.run_dir), "kind": m["kind"], "runtime": self.runtime,
               "model_file": self.model_file, "model_hash": self.model_hash, "head_hash": self.head_hash,
               "threshold": self.threshold, "input": self.predictor.geometry.to_json(),
               "vadtool_version": m.get("vadtool_version")}
        for key in ("recipe", "board", "data", "quantization"):
            if key in m:
                out[key] = m[key]
        return out

    def score(self, image_path: Path, width: int, height: int) -> dict:
        """Score one image file (width x height pixels): the prediction the service answers
        with and the store records."""
        with self._lock:
            start = time.perf_counter()
            pixels = self.predictor.load([image_path])
            p = self.predictor.predict(pixels)
            forget = getattr(self.predictor.runner, "forget", None)
            if forget is not None:
                forget()
            ms = (time.perf_counter() - start) * 1e3
        score = float(p.image_scores[0])
        out = {"score": score, "threshold": self.threshold, "anomalous": score > self.threshold,
               "decision": "anomalous" if score > self.threshold else "normal",
               "cells": None, "boxes": [], "model_hash": self.model_hash, "head_hash": self.head_hash,
               "runtime": self.runtime,
               "run": str(self.run_dir), "input": self.predictor.geometry.to_json(), "ms": round(ms, 3)}
        if p.cell_scores is not None:
            cells = p.cell_scores[0]
            out["cells"] = np.round(cells, 4).tolist()
            out["boxes"] = boxes(cells, self.threshold, height, width, self.predictor.geometry)
        return out


def overlay_png(image_path: Path, prediction: dict, max_side: int = 320) -> bytes:
    """The report's overlay panels for a stored prediction, as PNG bytes: the heatmap (heat
    anchored at the threshold) beside the predicted mask and boxes; a classifier's has no
    cells, so its picture is the image alone."""
    from .. import data as datasets
    from ..report.overlay import panels, png_bytes, strip, thumb_shape
    shape = thumb_shape(image_path, max_side)
    image = datasets.load_image(image_path, shape)
    cells = None if prediction.get("cells") is None else np.asarray(prediction["cells"], np.float32)
    geometry = InputGeometry.from_manifest(prediction) if prediction.get("input") else None
    picture = panels(image, cells, float(prediction["threshold"]), None, geometry)
    return png_bytes(strip([picture[k] for k in ("heatmap", "predicted") if k in picture] or [image]))
