"""The domain exception family.

Every error a user can cause or fix is a VadError: the CLI prints its message as one line
and exits with code 2. Anything else is a bug and keeps its traceback.
"""

import errno
from contextlib import contextmanager


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


class BusyError(VadError):
    """Another vadtool command is writing the same run directory or firmware project."""


class DiskFullError(VadError):
    """The disk (or the user's quota) filled up while writing; nothing half-written is kept."""


def disk_full(exc: BaseException, path=None) -> str | None:
    """If exc (or what caused it) is a full disk or quota, the one line saying so (naming path,
    else the file the error names); else None.
    Libraries wrap the OSError (h5py, zipfile, TensorFlow), so the chain and the text count."""
    codes = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}  # no EDQUOT on Windows
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if (isinstance(exc, OSError) and exc.errno in codes) or "No space left on device" in str(exc):
            where = path or getattr(exc, "filename", None)
            return (f"no space left on the device{f' writing {where}' if where else ''}; "
                    "nothing was changed: free some space (or write to another disk) and run again")
        exc = exc.__cause__ or exc.__context__
    return None


@contextmanager
def naming_disk_full(path):
    """A full disk inside the block becomes a DiskFullError naming path (the artifact or
    folder the user asked for, not a temporary name)."""
    try:
        yield
    except Exception as exc:
        full = disk_full(exc, path)
        if full is None:
            raise
        raise DiskFullError(full) from exc
