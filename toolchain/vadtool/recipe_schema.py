"""The one schema of a training recipe: every key a FOMO-AD or classifier recipe may hold,
its type and its range. Recipe files (--recipe) and the options that override them are
checked against it before anything is trained (and before TensorFlow loads), so a typo, a
list instead of an object, "size": "96" or an unknown density is one line naming the key
and what is allowed.

The recipe dataclasses (models/fomo_ad.py, models/classifier.py) hold the defaults; a test
keeps their fields and these keys the same.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .errors import VadError
from .geometry import RESIZES
from .models.density import KINDS as DENSITIES, POOLINGS
from .models.layers import ALPHAS, ARCHS, SCALES, layer_stride


@dataclass(frozen=True)
class Rule:
    allowed: str  # what the error message says is allowed
    test: Callable[[object], bool]


def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def integer(lo: int, hi: int) -> Rule:
    return Rule(f"a whole number from {lo} to {hi}", lambda v: _int(v) and lo <= v <= hi)


def number(lo: float, hi: float, above: bool = False, below: bool = False) -> Rule:
    left, right = ("more than" if above else "from"), ("below" if below else "to")
    return Rule(f"a number {left} {lo:g} {right} {hi:g}",
                lambda v: _num(v) and (lo < v if above else lo <= v) and (v < hi if below else v <= hi))


def one_of(choices) -> Rule:
    return Rule("one of " + ", ".join(map(str, choices)), lambda v: isinstance(v, str) and v in choices)


def text() -> Rule:
    return Rule("a non-empty string", lambda v: isinstance(v, str) and v != "")


def optional(rule: Rule) -> Rule:
    return Rule(f"{rule.allowed}, or null", lambda v: v is None or rule.test(v))


def list_of(rule: Rule, length: int | None = None) -> Rule:
    count = f"{length} " if length else ""
    return Rule(f"a list of {count}items, each {rule.allowed}",
                lambda v: isinstance(v, list) and (length is None or len(v) == length)
                and all(rule.test(x) for x in v))


_LAYER = Rule("a layer name such as block_6_expand_relu (mobilenet_v2) or conv_pw_5_relu (mobilenet_v1)",
              lambda v: isinstance(v, str) and v != "")
_SIDE = integer(32, 1024)

BACKBONE = {
    "arch": one_of(ARCHS),
    "alpha": number(0.25, 1.4),
    "cut": optional(_LAYER),
    "weights": text(),
    "input_scale": one_of(tuple(SCALES)),
}
_COMMON = {
    "backbone": BACKBONE,  # a nested section
    "size": _SIDE,
    "shape": optional(list_of(_SIDE, 2)),
    "resize": one_of(RESIZES),
}
SCHEMAS = {
    "fomo-ad": {**_COMMON,
                "extra_layers": list_of(_LAYER),
                "pool": integer(0, 15),
                "pool_stride": integer(1, 4),
                "density": one_of(DENSITIES),
                "components": integer(1, 256),
                "shrinkage": number(0, 1),
                "max_cells": integer(1, 10_000_000),
                "image_score": one_of(POOLINGS),
                "holdout": number(0, 0.9),
                "bank_kb": number(0, 1 << 20),
                "project": integer(0, 4096)},
    "classifier": {**_COMMON,
                   "anomaly_share": number(0, 1, above=True, below=True),
                   "l2": number(0, 1e6),
                   "max_iter": integer(1, 1_000_000),
                   "seed": integer(0, 2**32 - 1)},
}
FILE_ONLY = {"description": text()}  # allowed in a recipe file, not part of the recipe


def _fail(where: str, key: str, problem: str) -> VadError:
    return VadError(f"{where}: {problem}" if where.startswith("--") else f"{where}: {key!r} {problem}")


def _check_section(d: dict, schema: dict, where: str, prefix: str = "", extra: dict | None = None) -> None:
    allowed = {**schema, **(extra or {})}
    for key, value in d.items():
        name = f"{prefix}{key}"
        rule = allowed.get(key)
        if rule is None:
            raise _fail(where, name, f"is not a recipe key; allowed here: {', '.join(allowed)}")
        if isinstance(rule, dict):
            if not isinstance(value, dict):
                raise _fail(where, name, f"must be an object with keys {', '.join(rule)}")
            _check_section(value, rule, where, f"{name}.")
        elif not rule.test(value):
            raise _fail(where, name, f"is {json.dumps(value)}; allowed: {rule.allowed}")


def load_file(path: str | Path, kind: str) -> dict:
    """A recipe file read and checked against the schema of `kind` ("fomo-ad" or
    "classifier"); returns its recipe keys (without "description")."""
    path = Path(path)
    try:
        loaded = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise VadError(f"{path}: not a readable JSON recipe ({exc}); see the recipes in models/") from exc
    if not isinstance(loaded, dict):
        raise VadError(f"{path}: a recipe is a JSON object of keys ({{\"size\": 96, ...}}), "
                       f"not a {type(loaded).__name__}; see the recipes in models/")
    _check_section(loaded, SCHEMAS[kind], str(path), extra=FILE_ONLY)
    check_consistent(loaded, kind, str(path))
    return {k: v for k, v in loaded.items() if k not in FILE_ONLY}


def check_option(kind: str, key: str, value, option: str) -> None:
    """A command-line value for recipe key `key` ("backbone.alpha" for a nested one)."""
    rule: object = SCHEMAS[kind]
    for part in key.split("."):
        rule = rule[part]
    if not rule.test(value):
        raise VadError(f"{option} {value}: allowed: {rule.allowed}")


def check_consistent(recipe: dict, kind: str, where: str) -> None:
    """What one key allows that depends on another: the width and the layers exist for the
    architecture (the recipe may be partial: missing keys take the defaults later)."""
    backbone = recipe.get("backbone", {})
    arch = backbone.get("arch", "mobilenet_v1" if kind == "classifier" else "mobilenet_v2")
    alpha = backbone.get("alpha")
    if alpha is not None and not any(math.isclose(alpha, a) for a in ALPHAS[arch]):
        raise _fail(where, "backbone.alpha", f"is {alpha:g}; {arch} is built at widths "
                    f"{', '.join(f'{a:g}' for a in ALPHAS[arch])}")
    spec = _Arch(arch)
    layers = [("backbone.cut", backbone["cut"])] if backbone.get("cut") else []
    layers += [("extra_layers", name) for name in recipe.get("extra_layers", [])]
    for key, name in layers:
        try:
            layer_stride(spec, name)
        except VadError:
            raise _fail(where, key, f"names {name!r}, which {arch} does not have; allowed: "
                        + ("block_N_expand_relu, block_N_project_BN, ... with N 1..16" if arch == "mobilenet_v2"
                           else "conv_pw_N_relu, conv_dw_N_relu, ... with N 1..13")) from None


@dataclass(frozen=True)
class _Arch:
    arch: str
