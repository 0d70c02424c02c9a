"""The FOMO-AD head as C (firmware_templates/head/), rendered from an IntHead (head_int.npz).

The C is integer only and mirrors IntHead.score step by step, so the device's scores equal
the host's bit for bit.
"""

from __future__ import annotations

from pathlib import Path

import jinja2
import numpy as np

from .boards import FIRMWARE_TEMPLATES
from .errors import RenderError
from .models import int_head as ih
from .models.density import TOP_SHARES, top_cells
from .models.int_head import IntHead

POOLING_CODES = {"max": 0, "mean": 1, "top-half": 2, "top-tenth": 2}  # the template's POOL_* macros
POOLING_TEXT = {"max": "the highest cell score", "mean": "the mean cell score",
                "top-half": "the mean of the upper half of the cell scores",
                "top-tenth": "the mean of the upper tenth of the cell scores"}
# The protocol's HEAD_KINDS codes (NONE is 0), in IntHead's kind order
KIND_CODES = {kind: i + 1 for i, kind in enumerate(ih.HEAD_KINDS)}
PER_LINE = 24


def _ints(values) -> str:
    flat = [str(int(v)) for v in np.ravel(values)]
    lines = [", ".join(flat[i:i + PER_LINE]) for i in range(0, len(flat), PER_LINE)]
    return ",\n    ".join(lines)


def _description(head: IntHead) -> str:
    if head.kind == "knn":
        return f"distance to the nearest of {len(head.bank)} normal cells (int8 coreset)"
    what = {"gaussian": "one Gaussian", "gmm": f"a mixture of {head.n_gaussians} Gaussians",
            "per-position": f"one Gaussian per cell position ({head.n_gaussians})"}[head.kind]
    return f"{what} over {head.channels}-channel cells"


def check_head_fits(head: IntHead, path, output_shape, scale: float, zero_point: int) -> None:
    """RenderError unless the head scores this model's output (shape and quantization)."""
    want = (*head.grid, head.channels)
    if tuple(output_shape[-3:]) != want:
        raise RenderError(f"{path}: a head for {want[0]}x{want[1]} cells of {want[2]} channels, the "
                          f"model gives {tuple(output_shape[-3:])}; re-run vadtool quantize")
    if head.zero_point != int(zero_point) or abs(head.scale - float(scale)) > 1e-9 * abs(scale):
        raise RenderError(f"{path}: made for output quantization ({head.scale}, {head.zero_point}), "
                          f"the model has ({scale}, {zero_point}); re-run vadtool quantize")


def write_head_sources(head: IntHead, out_dir: Path, banner: str) -> list[Path]:
    """Write vad_head.h / vad_head.c for this head; returns their paths."""
    if head.kind not in KIND_CODES or head.pooling not in POOLING_CODES:
        raise RenderError(f"head_int.npz: unknown head {head.kind!r} / pooling {head.pooling!r}; "
                          "re-run vadtool quantize")
    if head.kind == "knn" and not len(head.bank):
        raise RenderError("head_int.npz: empty knn bank; re-run vadtool quantize")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(FIRMWARE_TEMPLATES / "head")),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    ctx = dict(banner=banner, kind=head.kind, kind_code=KIND_CODES[head.kind],
               description=_description(head), pooling_code=POOLING_CODES[head.pooling],
               pooling_text=POOLING_TEXT[head.pooling],
               top_keep=top_cells(head.grid[0] * head.grid[1], head.pooling) if head.pooling in TOP_SHARES else 0,
               grid_h=head.grid[0], grid_w=head.grid[1],
               channels=head.channels, frac_bits=head.frac_bits, threshold=int(head.threshold),
               zero_point=head.zero_point)
    if head.kind == "knn":
        ctx.update(bank=[_ints(row) for row in head.bank], bank_rows=len(head.bank),
                   bank_sq=_ints((head.bank.astype(np.int64) ** 2).sum(1)),
                   dist_root_bits=ih.DIST_ROOT_BITS, dist_shift=ih.DIST_SHIFT,
                   dist_mult=head.dist_mult)
    else:
        ctx.update(n_gauss=head.n_gaussians, packed_len=head.packed_len, z_bits=ih.Z_BITS, z_max_bits=int(np.log2(ih.Z_MAX)), block_pairs=ih.BLOCK_PAIRS,
                   centres=[", ".join(f"INT64_C({int(v)})" for v in row) for row in head.centres],
                   weights=[_ints(head.packed_weights(k)) for k in range(head.n_gaussians)],
                   shifts=[_ints(s) for s in head.shifts],
                   offsets=", ".join(f"INT64_C({int(v)})" for v in head.offsets))
        exp_t, log_t, ln2 = ih.lse_tables(head.frac_bits)
        ctx.update(lse_step_bits=ih.LSE_STEP_BITS, lse_exp_len=ih.LSE_EXP_LEN,
                   lse_one_bits=ih.LSE_ONE_BITS, lse_log_bits=ih.LSE_LOG_BITS, lse_ln2=ln2,
                   lse_exp=_ints(exp_t), lse_log=_ints(log_t))
    out_dir = Path(out_dir)
    paths = []
    for name in ("vad_head.h", "vad_head.c"):
        path = out_dir / name
        path.write_text(env.get_template(name + ".j2").render(**ctx))
        paths.append(path)
    return paths
