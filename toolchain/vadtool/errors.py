"""The domain exception family.

Every error a user can cause or fix is a VadError: the CLI prints its message as one line
and exits with code 2. Anything else is a bug and keeps its traceback.
"""


class VadError(Exception):
    """A problem the user can fix; the message names the file and the fix."""


class DatasetError(VadError):
    """The image folder is missing, empty, ambiguous or unreadable."""


class ModelError(VadError):
    """A run directory, weights file or model file is missing, corrupt or incompatible."""


class QuantizeError(VadError):
    """Int8 conversion failed or produced a broken model."""


class RenderError(VadError):
    """The model cannot be turned into C (unsupported operator or quantization)."""


class BuildError(VadError):
    """The firmware does not compile, or does not fit the board."""


class DeviceError(VadError):
    """The device (board, emulator or host program) failed or answered with an error."""


class DeviceTimeout(DeviceError):
    """The device did not answer within a named timeout."""


class ProtocolError(DeviceError):
    """The device's bytes do not form a valid frame."""


class TrackingError(VadError):
    """The MLflow store cannot be used (a bad URI, a server down, a locked database)."""
