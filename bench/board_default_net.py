"""The int8 networks of the boards' default detectors, for bench/device_bench.py --board-defaults.

    board_default_models(out_dir, calib_dir) -> [(model.tflite, [board, ...])]

For every microcontroller board, the recipe `vadtool train fomo-ad DATA --board B` starts from
on square images (board_fit.choose_base, as `vadtool boards --defaults` shows it), its
network built with the pretrained backbone (VADTOOL_WEIGHTS) and converted to full int8 by
vadtool's own converter, calibrated on the images of calib_dir. Boards whose recipes build the
same network share one file. The head is not part of the network and not benchmarked here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def board_default_models(out_dir: Path, calib_dir: Path) -> list[tuple[Path, list[str]]]:
    from vadtool import board_fit
    from vadtool.boards import BOARDS
    from vadtool.data import load_image
    from vadtool.models.fomo_ad import FomoAdRecipe, build_network
    from vadtool.quantize import calibration_files, convert

    networks: dict[tuple, list[str]] = {}
    recipes = {}
    for board in BOARDS.values():
        if board.flash_bytes is None:  # the host has no default of its own
            continue
        recipe = board_fit.choose_base(board, FomoAdRecipe(), [], search=True).recipe
        spec = recipe.backbone
        key = (spec.arch, spec.alpha, spec.cut, tuple(recipe.shape), tuple(recipe.extra_layers),
               recipe.pool, recipe.pool_stride, recipe.project)
        networks.setdefault(key, []).append(board.name)
        recipes[key] = recipe
    out = []
    for key, boards in networks.items():
        recipe = recipes[key]
        h, w = recipe.shape
        calib = np.stack([load_image(p, (h, w), recipe.resize) for p in calibration_files(calib_dir)])
        path = Path(out_dir) / f"board_default_mnv2_{int(recipe.backbone.alpha * 100)}_{w}x{h}_int8.tflite"
        path.write_bytes(convert(build_network(recipe), calib))
        out.append((path, boards))
    return out
