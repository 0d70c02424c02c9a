"""The device as a runtime: int8 inputs over the serial protocol, int8 outputs and timer
ticks back. Refuses a device that runs another model than the run's."""

from __future__ import annotations

import numpy as np

from ..errors import DeviceError
from ..rundir import sha256
from ..runners import Int8Runner
from .client import DeviceClient, Timeouts


class DeviceRunner(Int8Runner):
    name = "device"

    def __init__(self, tflite_path, port: str, timeouts: Timeouts = Timeouts(), progress=None):
        super().__init__(tflite_path)
        self.client = DeviceClient.open(port, timeouts=timeouts)
        self.info = self.client.hello()
        want = sha256(tflite_path)
        if self.info.model_hash.lower() != want:
            self.client.close()
            raise DeviceError(f"device at {port} runs model {self.info.model_hash[:12]}…, the run "
                              f"has {want[:12]}… ({tflite_path}); render, build and flash this run")
        self.inputs: list[np.ndarray] = []  # what was sent, for the bit-exact check
        self.outputs_int8: list[np.ndarray] = []
        self.ticks: list[int] = []

    def run_int8(self, x: np.ndarray) -> np.ndarray:
        # a WxH image has the byte count of an HxW one: compare the shape HELLO reported
        if tuple(x.shape[1:]) != tuple(self.info.input_shape):
            raise DeviceError(f"images are {'x'.join(map(str, x.shape[1:]))} (HxWxC) but the device at "
                              f"{self.client.transport.url} takes {'x'.join(map(str, self.info.input_shape))}; "
                              "render, build and flash this run")
        outs = []
        for one in x:
            out, ticks = self.client.run(np.ascontiguousarray(one))
            self.inputs.append(one)
            self.outputs_int8.append(out)
            self.ticks.append(ticks)
            outs.append(out)
        shape = self.output_shape
        return np.stack(outs).reshape((len(x),) + shape)

    @property
    def output_shape(self) -> tuple[int, ...]:
        if not hasattr(self, "_shape"):
            from ai_edge_litert import interpreter as litert
            details = litert.Interpreter(model_path=str(self.path)).get_output_details()[0]
            self._shape = tuple(int(d) for d in details["shape"][1:])
        return self._shape

    def close(self) -> None:
        self.client.close()
