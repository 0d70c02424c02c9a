"""Import TensorFlow and Keras once, quietly: every module that needs them imports from here."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import tensorflow as tf  # noqa: E402
import keras  # noqa: E402

__all__ = ["tf", "keras"]
