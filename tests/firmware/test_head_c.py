"""The integer head: IntHead (Python) and the rendered C head give the same integers, for
every density, on the host and on Cortex-M4 (QEMU, DSP and plain-C paths)."""

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from vadtool.head_c import KIND_CODES, write_head_sources
from vadtool.models.density import fit
from vadtool.models.int_head import IntHead, greedy_coreset, pool_image

HERE = Path(__file__).resolve().parent
QB = HERE.parents[1] / "firmware_templates" / "runtime" / "qemu_bench"
ARM = shutil.which("arm-none-eabi-gcc")
QEMU = ARM and shutil.which("qemu-system-arm")
WARN = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-O2"]
M4 = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]

SCALE, ZERO = 0.05, -128  # like a ReLU feature map's output quantization
GRID = (3, 4)


def realish(rng, n, grid=GRID, channels=12, rank=3):
    """Non-negative, correlated int8 cell features, as a pooled ReLU feature map gives."""
    basis = rng.normal(size=(rank, channels))
    z = rng.normal(size=(n, *grid, rank)) @ basis + 2.0
    return np.clip(np.round(np.maximum(z, 0) / 4 / SCALE) + ZERO, -128, 127).astype(np.int8)


def make_head(kind, pooling, channels=12, bank_kb=64, seed=0, components=3, grid=GRID):
    rng = np.random.default_rng(seed)
    train = realish(rng, 40, grid=grid, channels=channels)
    density = fit(SCALE * (train.astype(np.float64) - ZERO), kind, components=components,
                  pooling=pooling)
    if kind == "gmm":  # fitted components lie far apart; a near twin puts the log-sum-exp
        # tables to work on every cell (differences of 0.3 nats, not of hundreds)
        density.means[1], density.whiten[1] = density.means[0], density.whiten[0]
        density.log_norm[1] = density.log_norm[0] - 0.3
    threshold = float(density.image_scores(density.score(SCALE * (train[:5].astype(np.float64) - ZERO))).max())
    head = IntHead.from_density(density, scale=SCALE, zero_point=ZERO, grid=grid,
                                threshold=threshold, bank_kb=bank_kb)
    return head, density


def inputs(seed=1, channels=12, grid=GRID):
    rng = np.random.default_rng(seed)
    q = np.concatenate([rng.integers(-128, 128, size=(6, *grid, channels)).astype(np.int8),
                        realish(rng, 6, grid=grid, channels=channels)])
    q[0] = -128
    q[1] = 127
    q[2, :, :2] = q[3, 0, 0]  # ties between cells (top-half must not care how they break)
    return q


def run_head(exe_or_elf, q, channels, qemu=False):
    work = Path(exe_or_elf).parent
    (work / "features.bin").write_bytes(np.ascontiguousarray(q).tobytes())
    if qemu:
        cmd = ["qemu-system-arm", "-M", "mps2-an386", "-nographic", "-semihosting", "-icount",
               "shift=0", "-monitor", "none", "-serial", "none", "-kernel", str(exe_or_elf)]
    else:
        cmd = [str(exe_or_elf)]
    out = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=300).stdout
    assert f"DONE {len(q)}" in out, out[-1000:]
    ticks = [int(t) for t in re.findall(r"RUN \d+ ticks (\d+)", out)]
    s = np.frombuffer((work / "scores.bin").read_bytes(), np.int32).reshape(len(q), -1)
    return s[:, :-1].reshape(len(q), *q.shape[1:3]), s[:, -1], ticks


def m4_dsp_and_plain_c_equal_int_head(head, q, tmp_path):
    """Build the head for Cortex-M4 with the DSP path (tmp_path/dsp) and in plain C
    (tmp_path/plain), run both in QEMU on q and assert their cell and image scores equal
    IntHead's bit for bit; returns each build's SysTick ticks per image."""
    cells, image = head.score(q)
    ticks = []
    for plain_c in (False, True):
        elf = build_m4(head, tmp_path / ("plain" if plain_c else "dsp"), plain_c)
        c_cells, c_image, t = run_head(elf, q, head.channels, qemu=True)
        np.testing.assert_array_equal(c_cells, cells, err_msg=f"plain_c={plain_c}")
        np.testing.assert_array_equal(c_image, image, err_msg=f"plain_c={plain_c}")
        ticks.append(t)
    return ticks


def build_host(head, tmp_path, extra=()):
    write_head_sources(head, tmp_path, banner="test")
    shutil.copy(HERE / "head_main.c", tmp_path / "head_main.c")
    exe = tmp_path / "head"
    subprocess.run(["cc", *WARN, *extra, "-I", str(tmp_path), str(tmp_path / "vad_head.c"),
                    str(tmp_path / "head_main.c"), "-o", str(exe)], check=True)
    return exe


def build_m4(head, out: Path, plain_c: bool):
    out.mkdir(parents=True, exist_ok=True)
    write_head_sources(head, out, banner="test")
    shutil.copy(HERE / "head_main.c", out / "head_main.c")
    for f in ("startup_m4.c", "mps2_an386.ld"):
        shutil.copy(QB / f, out / f)
    elf = out / "head.elf"
    flags = [*M4, *WARN, "-DHEAD_TICKS", "-ffunction-sections", "-fdata-sections", "-Wl,--gc-sections"] + (["-DVAD_HEAD_PLAIN_C"] if plain_c else [])
    subprocess.run([ARM, *flags, "-I", str(out), str(out / "vad_head.c"), str(out / "head_main.c"),
                    str(out / "startup_m4.c"), "-T", str(out / "mps2_an386.ld"),
                    "--specs=rdimon.specs", "-nostartfiles", "-o", str(elf)], check=True)
    return elf


@pytest.mark.skipif(not QEMU, reason="qemu-system-arm or arm-none-eabi-gcc not installed")
@pytest.mark.parametrize("grid,channels,bank_kb", [((3, 3), 14, 2.0), ((1, 1), 13, 0.3), ((2, 3), 16, 0.5)])
def test_knn_cell_and_row_pairs_on_cortex_m4_equal_int_head(tmp_path, grid, channels, bank_kb):
    """The knn head scores two cells against two bank rows per pass: an odd last cell (3x3,
    1x1) or bank row (0.3 KB of 13 channels: 23 rows) pairs with itself, the channel tail
    (14 % 4, 13 % 4) is summed in C; DSP and plain C equal IntHead bit for bit."""
    head, _ = make_head("knn", "top-half", channels=channels, bank_kb=bank_kb, grid=grid)
    assert len(head.bank) == int(bank_kb * 1024) // channels
    q = inputs(seed=4, channels=channels, grid=grid)
    m4_dsp_and_plain_c_equal_int_head(head, q, tmp_path)


CASES = [("gaussian", "max"), ("gmm", "max"), ("gmm", "mean"), ("per-position", "top-half"),
         ("knn", "top-half"), ("knn", "max"), ("gaussian", "top-tenth")]


@pytest.mark.parametrize("kind,pooling", CASES)
def test_c_head_equals_int_head_on_the_host(tmp_path, kind, pooling):
    head, _ = make_head(kind, pooling, bank_kb=0.25)  # knn: 21 of the 480 cells
    q = inputs()
    cells, image = head.score(q)
    exe = build_host(head, tmp_path)
    c_cells, c_image, _ = run_head(exe, q, head.channels)
    np.testing.assert_array_equal(c_cells, cells)
    np.testing.assert_array_equal(c_image, image)
    text = (tmp_path / "vad_head.h").read_text()
    assert f"#define VAD_HEAD_THRESHOLD ((int32_t){head.threshold})" in text
    assert f"#define VAD_HEAD_KIND {KIND_CODES[kind]} " in text
    assert f"#define VAD_HEAD_SCORE_FRAC_BITS {head.frac_bits}" in text


@pytest.mark.skipif(not QEMU, reason="qemu-system-arm or arm-none-eabi-gcc not installed")
@pytest.mark.parametrize("kind,pooling", [("gaussian", "mean"), ("gmm", "max"),
                                          ("per-position", "max"), ("knn", "top-half")])
def test_c_head_on_cortex_m4_dsp_and_plain_c_equal_int_head(tmp_path, kind, pooling):
    # 13 channels: odd, so the padded int16 pair and the knn tail (13 % 4) are exercised
    head, _ = make_head(kind, pooling, channels=13, bank_kb=0.5)
    q = inputs(seed=3, channels=13)
    for ticks in m4_dsp_and_plain_c_equal_int_head(head, q, tmp_path):
        assert len(ticks) == len(q) and min(ticks) > 0
    dsp = subprocess.run(["arm-none-eabi-objdump", "-d", str(tmp_path / "dsp" / "head.elf")],
                         capture_output=True, text=True).stdout
    plain = subprocess.run(["arm-none-eabi-objdump", "-d", str(tmp_path / "plain" / "head.elf")],
                           capture_output=True, text=True).stdout
    assert "smlad" in dsp and "smlad" not in plain


@pytest.mark.parametrize("kind", ["gaussian", "per-position", "knn"])
def test_int_scores_follow_the_float_density(kind):
    head, density = make_head(kind, "max", bank_kb=64)  # knn: the whole bank fits
    q = inputs()[6:]  # the real-ish ones: random bytes saturate Gaussian scores
    cells, image = head.score(q)
    want = density.score(SCALE * (q.astype(np.float64) - ZERO))
    got = cells / 2.0 ** head.frac_bits
    # fixed-point rounding of weights and features only: within 1 % (plus one step)
    np.testing.assert_allclose(got, want, rtol=0.01, atol=4 * 2.0 ** -head.frac_bits)
    np.testing.assert_array_equal(image, cells.reshape(len(q), -1).max(1))


def test_gmm_cell_score_is_the_float_log_sum_exp_within_table_steps():
    from vadtool.models.int_head import log_sum_exp_cells
    head, density = make_head("gmm", "max", components=3)
    q = inputs()[6:]
    got = head.score(q)[0] / 2.0 ** head.frac_bits
    want = density.score(SCALE * (q.astype(np.float64) - ZERO))
    # rounding of weights (1 %) plus the tables' 1/32 steps and 7-bit logarithm (< 0.05)
    np.testing.assert_allclose(got, want, rtol=0.01, atol=0.05)
    # equal components: exactly log 3 below each (to the table's precision)
    three = np.full((3, 1), 1000 << head.frac_bits, np.int64)
    lse = log_sum_exp_cells(three, head.frac_bits)[0] / 2.0 ** head.frac_bits
    assert abs(lse - (1000 - np.log(3))) < 0.01


def test_coreset_keeps_the_budget_and_covers_the_bank():
    rng = np.random.default_rng(0)
    bank = rng.integers(-128, 128, size=(500, 16)).astype(np.int8)
    picked = greedy_coreset(bank, 50)
    assert len(np.unique(picked)) == 50
    # k-center: the covering radius of the greedy pick is at most twice a random pick's
    far = lambda idx: np.sqrt(((bank[:, None].astype(float) - bank[idx][None]) ** 2).sum(-1).min(1)).max()
    assert far(picked) <= far(rng.choice(500, 50, replace=False))
    density = fit(SCALE * (realish(rng, 40, channels=16).astype(np.float64) - ZERO), "knn")
    head = IntHead.from_density(density, scale=SCALE, zero_point=ZERO, grid=GRID, threshold=1.0,
                                bank_kb=0.5)
    assert head.flash_bytes <= 512 and len(head.bank) == 512 // 16


def test_pooling_matches_c_integer_division_and_ties():
    cells = np.array([[5, 5, 5, -7], [-3, -4, -4, 2]], np.int64)
    assert pool_image(cells, "max").tolist() == [5, 2]
    assert pool_image(cells, "mean").tolist() == [2, -2]  # 8 / 4, -9 / 4 truncated
    assert pool_image(cells, "top-half").tolist() == [5, 0]  # (5+5)/2, (2-3)/2 truncated
    eleven = np.array([[3, -9, 8, 8, 0, 1, 2, 7, -1, 4, 5]], np.int64)  # top tenth: 2 cells
    assert pool_image(eleven, "top-tenth").tolist() == [8]
    assert pool_image(-eleven, "top-tenth").tolist() == [5]  # (9+1)/2


def test_save_load_round_trip(tmp_path):
    for kind in ("gmm", "knn"):
        head, _ = make_head(kind, "top-half", bank_kb=0.25)
        head.save(tmp_path / "h.npz")
        back = IntHead.load(tmp_path / "h.npz")
        q = inputs()
        for a, b in zip(head.score(q), back.score(q)):
            np.testing.assert_array_equal(a, b)
        assert back.describe() == head.describe()


def test_build_int_head_sets_the_threshold_on_int_scores_as_fit_head_does():
    from vadtool.models.int_head import INT32_MAX, build_int_head, choose_frac_bits
    from vadtool.validation import choose_threshold
    rng = np.random.default_rng(4)
    fit_q, hold_q = realish(rng, 30), realish(rng, 6)
    odd = np.clip(hold_q.astype(np.int16) + rng.integers(-60, 60, hold_q.shape), -128, 127).astype(np.int8)
    val_q, labels = np.concatenate([hold_q, odd]), np.r_[np.zeros(6), np.ones(6)].astype(int)
    deq = lambda q: SCALE * (q.astype(np.float64) - ZERO)
    gauss = fit(deq(fit_q), "gaussian", pooling="mean")
    head = build_int_head(gauss, fit_q, val_q, labels, scale=SCALE, zero_point=ZERO, float_threshold=1e-3)
    scores = head.score(val_q)[1]
    # the best-F1 cut of the validation set, on the int scores, as an int with the same sides
    assert head.threshold == int(np.floor(choose_threshold(scores, labels)[0]))
    assert ((scores > head.threshold) == labels.astype(bool)).all()  # these are separable
    # frac_bits follow the normal scores, not only a threshold near 0: nothing normal saturates
    assert head.frac_bits < choose_frac_bits(1e-3)
    assert head.score(np.concatenate([fit_q, hold_q]))[0].max() < INT32_MAX // 64
    given = build_int_head(gauss, fit_q, val_q, labels, scale=SCALE, zero_point=ZERO, float_threshold=1e-3,
                           given_threshold=7.25)
    assert given.threshold == round(7.25 * 2 ** given.frac_bits)
    # no validation set: no fitted image is above the threshold
    alone = build_int_head(gauss, fit_q, fit_q[:0], np.zeros(0), scale=SCALE, zero_point=ZERO,
                           float_threshold=1e-3)
    assert alone.threshold == alone.score(fit_q)[1].max()
