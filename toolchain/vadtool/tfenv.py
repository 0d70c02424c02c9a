"""Import TensorFlow and Keras once, quietly: every module that needs them imports from here."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import tensorflow as tf  # noqa: E402
import keras  # noqa: E402

__all__ = ["tf", "keras"]


class captured_output:
    """Send file descriptors 1 and 2 to a temporary file (the TFLite converter's C++ and
    Python chatter would otherwise mix with our output); `.text` holds what was said."""

    def __enter__(self):
        import sys
        import tempfile
        sys.stdout.flush()
        sys.stderr.flush()
        self._file = tempfile.TemporaryFile(mode="w+b")
        self._saved = [os.dup(1), os.dup(2)]
        os.dup2(self._file.fileno(), 1)
        os.dup2(self._file.fileno(), 2)
        self.text = ""
        return self

    def __exit__(self, *exc):
        import sys
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, saved in zip((1, 2), self._saved):
            os.dup2(saved, fd)
            os.close(saved)
        self._file.seek(0)
        self.text = self._file.read().decode(errors="replace")
        self._file.close()
        return False
