"""The FOMO-AD head in C scores cells like the Python density it was rendered from."""

import shutil
import subprocess

import numpy as np
import pytest

from vadtool.head_c import write_head_sources
from vadtool.models.density import fit

MAIN = r"""
#include <stdio.h>
#include <stdint.h>
#include "vad_head.h"
int main(void) {
    static int8_t features[VAD_HEAD_CELLS * VAD_HEAD_CHANNELS];
    float cells[VAD_HEAD_CELLS];
    while (fread(features, 1, sizeof features, stdin) == sizeof features) {
        float image = vad_head_score(features, cells);
        for (int i = 0; i < VAD_HEAD_CELLS; i++) printf("%.9g ", cells[i]);
        printf("%.9g\n", image);
    }
    return 0;
}
"""

SCALE, ZERO = 0.05, -20


def _compile(tmp_path, density, grid, cc="cc", extra=()):
    write_head_sources(density, feature_scale=SCALE, feature_zero_point=ZERO, grid=grid,
                       threshold=1.5, out_dir=tmp_path, banner="test")
    (tmp_path / "main.c").write_text(MAIN)
    exe = tmp_path / "head"
    subprocess.run([cc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-O2", *extra,
                    str(tmp_path / "vad_head.c"), str(tmp_path / "main.c"), "-o", str(exe), "-lm"],
                   check=True, capture_output=True, text=True)
    return exe


@pytest.mark.parametrize("kind,components,pooling", [("gaussian", 1, "max"), ("gmm", 3, "max"),
                                                     ("per-position", 1, "max"), ("gmm", 2, "mean")])
def test_c_head_matches_python(tmp_path, kind, components, pooling):
    rng = np.random.default_rng(0)
    grid, channels = (3, 4), 12
    q_train = rng.integers(-40, 60, size=(30, *grid, channels)).astype(np.int8)
    density = fit(SCALE * (q_train.astype(np.float32) - ZERO), kind, components=components,
                  pooling=pooling)
    exe = _compile(tmp_path, density, grid)
    q = rng.integers(-128, 128, size=(5, *grid, channels)).astype(np.int8)
    q[0] = -128
    q[1] = 127
    out = subprocess.run([str(exe)], input=q.tobytes(), capture_output=True, check=True).stdout
    got = np.array([[float(v) for v in line.split()] for line in out.decode().splitlines()])
    expected = density.score(SCALE * (q.astype(np.float32) - ZERO)).reshape(5, -1)
    assert got.shape == (5, grid[0] * grid[1] + 1)
    np.testing.assert_allclose(got[:, :-1], expected, rtol=2e-4, atol=2e-3)
    np.testing.assert_allclose(got[:, -1], density.image_scores(expected), rtol=2e-4, atol=2e-3)


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="arm-none-eabi-gcc not installed")
def test_c_head_compiles_for_cortex_m4(tmp_path):
    rng = np.random.default_rng(1)
    density = fit(rng.normal(size=(10, 2, 2, 8)), "gaussian")
    write_head_sources(density, feature_scale=SCALE, feature_zero_point=ZERO, grid=(2, 2),
                       threshold=0.0, out_dir=tmp_path, banner="test")
    subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard",
                    "-mfpu=fpv4-sp-d16", "-std=c99", "-Wall", "-Wextra", "-Werror", "-O2", "-c",
                    str(tmp_path / "vad_head.c"), "-o", str(tmp_path / "vad_head.o")], check=True)


def test_knn_head_is_refused_with_the_recipe_that_has_one(tmp_path):
    from vadtool.errors import RenderError
    rng = np.random.default_rng(0)
    density = fit(rng.normal(size=(4, 2, 2, 3)), "knn")
    with pytest.raises(RenderError, match="fomo-ad-gaussian.json"):
        write_head_sources(density, feature_scale=SCALE, feature_zero_point=ZERO, grid=(2, 2),
                           threshold=1.0, out_dir=tmp_path, banner="test")
    assert not list(tmp_path.iterdir())
