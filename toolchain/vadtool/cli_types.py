"""Parameter types of the command line, checked while Click parses (before any work, and
before TensorFlow loads): a bad value is one `error:` line naming the option."""

from __future__ import annotations

import math
from pathlib import Path

import click

EXISTING = click.Path(exists=True, path_type=Path)
NEW = click.Path(path_type=Path)
COUNT = click.IntRange(min=1)
SEED = click.IntRange(min=0)
TCP_PORT = click.IntRange(0, 65535)


class FiniteFloat(click.FloatRange):
    """A float that is a number (optionally within a range): nan passes every range check
    and would make every comparison false (nothing anomalous), inf makes JSON invalid."""

    def convert(self, value, param, ctx):
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value} is not a finite number", param, ctx)
        return super().convert(number, param, ctx)


class Output(click.ParamType):
    """Where a command writes: a folder (folder=True), a file (False) or either (None).
    Refused at once when the path, or a parent of it, exists as the wrong kind: the work
    would fail only at its end."""

    def __init__(self, folder: bool | None):
        self.folder = folder
        self.name = {True: "folder", False: "file", None: "path"}[folder]

    def convert(self, value, param, ctx):
        path = Path(value)
        if self.folder and path.exists() and not path.is_dir():
            self.fail(f"{path} is a file; give a folder to create (or remove the file)", param, ctx)
        if self.folder is False and path.is_dir():
            self.fail(f"{path} is a folder; give a file name", param, ctx)
        for parent in path.absolute().parents:
            if parent.exists():
                if not parent.is_dir():
                    self.fail(f"{parent} is a file, so {path} cannot be created inside it", param, ctx)
                break
        return path


FINITE = FiniteFloat()
OUT_DIR = Output(folder=True)
OUT_FILE = Output(folder=False)
OUT_ANY = Output(folder=None)
