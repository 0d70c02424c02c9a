"""The device as a runtime: int8 inputs over the serial protocol; back come int8 outputs,
timer ticks and, when the firmware runs the head, the device's own image scores, decisions
and cell scores. Refuses a device that runs another model, or another head, than the run's."""

from __future__ import annotations

import numpy as np

from ..errors import DeviceError
from ..rundir import sha256
from ..runners import Int8Runner
from .client import DeviceClient, Timeouts


def check_device_head(info, head, port: str) -> None:
    """DeviceError unless the device runs the run's head (head: the run's IntHead, or None
    for a run without one): same kind, grid, fraction bits and threshold."""
    from .protocol import HEAD_KIND_NAMES, head_kind_code
    want = None if head is None else (HEAD_KIND_NAMES[head_kind_code(head.kind)], tuple(head.grid),
                                      int(head.frac_bits), int(head.threshold))
    got = (info.head_kind, tuple(info.grid), info.score_frac_bits, info.threshold) if info.has_head else None
    if want != got:
        def text(h):
            return "no head" if h is None else f"head {h[0]} {h[1][0]}x{h[1][1]}, threshold {h[3]}/2^{h[2]}"
        raise DeviceError(f"device at {port} runs {text(got)}, the run has {text(want)}; "
                          "render, build and flash this run")


class DeviceRunner(Int8Runner):
    name = "device"

    def __init__(self, tflite_path, port: str, timeouts: Timeouts = Timeouts(), progress=None,
                 head=None):
        """head: the run's IntHead, which the device's head must be (kind, grid, fraction bits,
        threshold); None for a run without one (classifier)."""
        super().__init__(tflite_path)
        self.client = DeviceClient.open(port, timeouts=timeouts)
        self.info = self.client.hello()
        want = sha256(tflite_path)
        if self.info.model_hash.lower() != want:
            self.client.close()
            raise DeviceError(f"device at {port} runs model {self.info.model_hash[:12]}…, the run "
                              f"has {want[:12]}… ({tflite_path}); render, build and flash this run")
        try:
            check_device_head(self.info, head, port)
        except DeviceError:
            self.client.close()
            raise
        self.inputs: list[np.ndarray] = []  # what was sent, for the bit-exact check
        self.outputs_int8: list[np.ndarray] = []
        self.ticks: list[int] = []
        self.head_ticks: list[int] = []
        self.image_ints: list[int] = []   # the device's image scores (with a head)
        self.decisions: list[str] = []    # NORMAL / ANOMALY (NONE without a head)
        self.cell_ints: list[np.ndarray] = []
        if self.info.has_head:
            self.run_with_head = self._run_with_head  # Predictor then takes the device's scores

    def _infer(self, one: np.ndarray):
        out, ticks = self.client.run(np.ascontiguousarray(one))
        result = self.client.infer_result
        self.inputs.append(one)
        self.outputs_int8.append(out)
        self.ticks.append(ticks)
        self.head_ticks.append(result.head_ticks)
        self.image_ints.append(result.image_score)
        self.decisions.append(result.decision)
        if result.cells is not None:
            self.cell_ints.append(result.cells)
        return out, result

    def run_int8(self, x: np.ndarray) -> np.ndarray:
        self._check_shape(x)
        outs = [self._infer(one)[0] for one in x]
        return np.stack(outs).reshape((len(x),) + self.output_shape)

    def _check_shape(self, x: np.ndarray) -> None:
        # a WxH image has the byte count of an HxW one: compare the shape HELLO reported
        if tuple(x.shape[1:]) != tuple(self.info.input_shape):
            raise DeviceError(f"images are {'x'.join(map(str, x.shape[1:]))} (HxWxC) but the device at "
                              f"{self.client.transport.url} takes {'x'.join(map(str, self.info.input_shape))}; "
                              "render, build and flash this run")

    def _run_with_head(self, x: np.ndarray):
        """(int8 outputs, int32 cell scores, int32 image scores), all as the device computed them."""
        self._check_shape(x)
        outs, cells, images = [], [], []
        for one in x:
            out, result = self._infer(one)
            outs.append(out)
            cells.append(result.cells)
            images.append(result.image_score)
        return (np.stack(outs).reshape((len(x),) + self.output_shape), np.stack(cells),
                np.asarray(images, dtype=np.int32))

    @property
    def output_shape(self) -> tuple[int, ...]:
        if not hasattr(self, "_shape"):
            from ai_edge_litert import interpreter as litert
            details = litert.Interpreter(model_path=str(self.path)).get_output_details()[0]
            self._shape = tuple(int(d) for d in details["shape"][1:])
        return self._shape

    def forget(self) -> None:
        """Drop what was sent and answered so far (a long-running service keeps nothing)."""
        for log in (self.inputs, self.outputs_int8, self.ticks, self.head_ticks, self.image_ints,
                    self.decisions, self.cell_ints):
            log.clear()

    def close(self) -> None:
        self.client.close()
