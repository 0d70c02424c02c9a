"""`vadtool train fomo-ad DATA --board B` keeps to what fits B, through the real commands: the
run's estimated cost is the native runtime's real plan, candidates that do not fit are in the
search table with the reason, the board default renders, builds and answers bit-exact in QEMU
with the head on the device; a board too small for anything fails in one line before any run
is written."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from .conftest import needs_qemu
from .test_cli_firmware import vadtool


@pytest.fixture(scope="session")
def small_set(tmp_path_factory):
    """Few normal images: enough for the search to hold some back, quick to train on."""
    from vadtool.synth import make_dataset
    return make_dataset(tmp_path_factory.mktemp("board_set") / "parts", seed=5, n_train=12)


@pytest.fixture(scope="session")
def board_run(tmp_path_factory, small_set, weights):
    """The board default, trained and quantized by the CLI, once per board."""
    runs = {}

    def get(board):
        if board not in runs:
            out = tmp_path_factory.mktemp("board_runs") / board
            trained = vadtool("train", "fomo-ad", small_set, "--board", board, "--out", out)
            assert f"board {board}: MobileNetV2" in trained.stdout, trained.stdout
            vadtool("quantize", out)
            runs[board] = (out, trained.stdout)
        return runs[board]
    return get


def test_board_run_fits_and_says_why_other_candidates_do_not(board_run):
    """stm32f405 (128 + 64 KB RAM): the 1.0 backbone at 128 px does not fit (said, in KB); the
    search table marks each candidate that does not fit with its reason; the
    estimate the choice was made on is the native runtime's real plan; the quantized model
    and its integer head fit the board by build.model_fit."""
    from vadtool import board_fit, search
    from vadtool.boards import arena_limit, get_board
    from vadtool.build import arena_budget, model_fit
    from vadtool.models.int_head import IntHead
    from vadtool.native.codegen import build_plan
    run, stdout = board_run("stm32f405")
    m = json.loads((run / "vadtool.json").read_text())
    assert m["board"]["name"] == "stm32f405"
    assert re.search(r"MobileNetV2 1\.0 at 128 px does not fit: needs \d+ KB of RAM and CCM", stdout), stdout
    rows = m["search"]["candidates"]
    excluded = [r for r in rows if "excluded" in r]
    assert excluded and len(excluded) < len(rows)
    # each one too big for the board's memory (in KB) or its latency budget (in instructions)
    assert all(re.search(r"needs \d+ KB of .*stm32f405 has|takes ~\d+ M instructions per image, over the "
                         r"\d+ M latency budget of stm32f405", r["excluded"]) for r in excluded)
    chosen = [r for r in rows if r.get("chosen")]
    assert len(chosen) == 1 and "excluded" not in chosen[0]
    # one search per base (each backbone's first two fitting rungs); the run keeps the one
    # whose choice scored best on validation (near-ties: the board's order, the 1.0 backbone
    # first), and says so in its table and output
    compared = m["board"]["compared"]
    backbones = [c["option"].split(" at ")[0] for c in compared]
    assert sorted(set(backbones)) == ["MobileNetV2 0.35", "MobileNetV2 1.0"]
    assert all(backbones.count(b) == board_fit.RUNGS_PER_BACKBONE for b in backbones), backbones
    assert len({c["option"] for c in compared}) == len(compared)
    kept = [c for c in compared if c["chosen"]]
    assert len(kept) == 1 and kept[0]["option"] == m["board"]["base"]
    assert chosen[0]["candidate"] == m["search"]["chosen"] == \
        f"{kept[0]['candidate']} @ {m['input']['width']}x{m['input']['height']}, {kept[0]['option'].split(' at ')[0]}"
    assert kept[0]["input"] == [m["input"]["height"], m["input"]["width"]] == chosen[0]["input"]
    best = max(c["val_auroc"] for c in compared)
    near = [c for c in compared if c["val_auroc"] >= best - search.TIE]
    assert kept[0] == min(near, key=lambda c: c["board_order"])
    assert sorted(c["board_order"] for c in compared) == list(range(len(compared)))
    assert next(c for c in compared if c["board_order"] == 0)["option"].startswith("MobileNetV2 1.0")
    for c in compared:
        assert sum(r["candidate"].endswith(c["option"].split(" at ")[0]) for r in rows) > 0
        assert re.search(rf"board stm32f405: (chose|compared) {re.escape(c['option'])} "
                         rf"\({c['input'][1]}x{c['input'][0]}\): best .*, validation AUROC {c['val_auroc']:.3f}", stdout)
        assert c["instructions"] <= get_board("stm32f405").max_instructions
    assert len({r["candidate"] for r in rows}) == len(rows)
    estimate = m["board"]["estimate"]
    head = IntHead.load(run / "head_int.npz")
    # the plan render makes on the board: plain where it fits, streamed where not, as estimated
    info = build_plan(run / "model_int8.tflite", arena_limit=arena_limit(get_board("stm32f405")), streaming="fit",
                      arena_budget=arena_budget("stm32f405", run / "model_int8.tflite", head)).info
    assert bool(info.streamed) == estimate["streamed"]
    assert abs(info.arena_bytes - estimate["arena_bytes"]) <= board_fit.ESTIMATE_MARGIN * info.arena_bytes
    assert abs(info.weights_bytes - estimate["weights_bytes"]) <= board_fit.ESTIMATE_MARGIN * info.weights_bytes
    assert info.macs == estimate["macs"]
    assert head.flash_bytes <= estimate["head_flash_bytes"] and head.ram_bytes == estimate["head_ram_bytes"]
    assert model_fit("stm32f405", run / "model_int8.tflite", head) is None


@needs_qemu
@pytest.mark.parametrize("board", ["stm32f405", "qemu-an386"])
def test_board_default_runs_on_the_emulated_board(tmp_path, board_run, board):
    run, _ = board_run(board)
    project = tmp_path / "fw"
    rendered = vadtool("render", run, "--board", board, "--out", project)
    # board_fit chose it without bands, and render adds none: it fits the board without them
    # (and streams only where the plain schedule would not fit, as the estimate assumed)
    estimate = json.loads((run / "vadtool.json").read_text())["board"]["estimate"]
    plan_line = ("memory plan: streamed " if estimate["streamed"] else
                 "memory plan: plain schedule (not streamed, not patched)")
    assert plan_line in rendered.stdout and "band" not in rendered.stdout, rendered.stdout
    built = vadtool("build", project)
    assert "flash" in built.stdout and plan_line in built.stdout
    bench = json.loads(vadtool("bench", run, "--project", project, "--emulate", "--limit", 2,
                               "--json").stdout)
    assert bench["board"] == board and bench["n_images"] == 2
    assert bench["mismatches"] == 0 and bench["head_on_device"] is True
    # the latency budget the board default was chosen under holds on the device, and the
    # estimate it was chosen by is the real count within native/costs.py's tolerance
    from vadtool.boards import get_board
    from vadtool.native.costs import ESTIMATE_TOLERANCE
    measured = bench["instructions_per_inference"]
    estimate = estimate["instructions"]
    assert abs(estimate - measured) <= ESTIMATE_TOLERANCE * measured, (estimate, measured)
    assert measured <= get_board(board).max_instructions * (1 + ESTIMATE_TOLERANCE), measured


def test_board_too_small_for_anything_fails_in_one_line(tmp_path, small_set, weights, monkeypatch):
    """A board with 64 KB of flash and 24 KB of RAM: not even the 0.35 backbone at 64 px fits;
    one line in KB, exit 2, no run written, no image loaded."""
    from dataclasses import replace

    from vadtool import board_fit, boards, data
    tiny = replace(boards.BOARDS["nano33ble"], name="tiny-m0", flash_bytes=64 * 1024, ram_bytes=24 * 1024)
    monkeypatch.setitem(boards.BOARDS, "tiny-m0", tiny)
    monkeypatch.setitem(board_fit.BASE_OPTIONS, "tiny-m0", (board_fit.BaseOption(0.35, 64),))
    monkeypatch.setattr(data, "load_images", lambda *a, **k: pytest.fail("loaded images"))
    out = tmp_path / "run"
    result = CliRunner().invoke(board_cli(), ["-q", "train", "fomo-ad", str(small_set), "--board", "tiny-m0",
                                              "--out", str(out)])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert re.fullmatch(r"error: --board tiny-m0: no recipe fits; the smallest, MobileNetV2 0\.35 at 64 px, "
                        r"needs \d+ KB of (flash|RAM) .*tiny-m0 has \d+ KB after the 10% margin", lines[0]), lines[0]
    assert not out.exists() and not list(tmp_path.glob(".run*"))


def test_recipe_that_does_not_fit_the_board_fails_before_training(tmp_path, small_set, weights):
    """With a recipe (no search) the board only checks it: the 16-Gaussian mixture at 128 px
    does not fit stm32f405."""
    out = tmp_path / "run"
    failed = vadtool("train", "fomo-ad", small_set, "--board", "stm32f405", "--recipe",
                     Path(__file__).parents[2] / "models" / "fomo-ad-gmm.json", "--out", out, check=False)
    assert failed.returncode == 2
    assert re.fullmatch(r"error: --board stm32f405: this recipe needs \d+ KB of RAM and CCM .*\n",
                        failed.stderr), failed.stderr
    assert not out.exists()


def test_unknown_board_is_one_line(tmp_path, small_set):
    failed = vadtool("train", "fomo-ad", small_set, "--board", "uno", "--out", tmp_path / "run", check=False)
    assert failed.returncode == 2 and "unknown board 'uno'" in failed.stderr
    assert len(failed.stderr.strip().splitlines()) == 1


def board_cli():
    from vadtool.cli import cli
    return cli


def test_each_board_starts_from_the_first_option_that_fits(weights, monkeypatch):
    """On square images each microcontroller board starts from the first option within both
    its memory and its latency budget, and says why each earlier one was passed over (RAM in
    KB, or instructions per image). Without a latency budget: the QEMU boards and nano33ble
    keep the 1.0 backbone at 128 px, stm32f405 goes down to 96 px for its RAM (all went down
    to 64 px before the planner streamed convolutions into their depthwise layers). A knn bank
    gets the flash the network leaves (less beside the deeper stride-16 weights), and fits."""
    from dataclasses import replace

    from vadtool import board_fit, boards
    from vadtool.cli import _recipe
    from vadtool.models.fomo_ad import FomoAdRecipe
    recipe = _recipe(FomoAdRecipe, {}, None, {}, {}, {})
    for board in ("qemu-an386", "stm32f405", "nano33ble"):
        limit = boards.get_board(board).max_instructions
        base = board_fit.choose_base(board, recipe, [], search=True)
        assert base.tried and base.option == board_fit.LADDER[len(base.tried)]
        assert board_fit.recipe_cost(base.recipe, board=board).instructions <= limit
        memory = [why for _, why in base.tried if re.match(rf"needs \d+ KB of RAM.*{board} has", why)]
        latency = [why for _, why in base.tried
                   if re.fullmatch(rf"takes ~\d+ M instructions per image, over the {limit / 1e6:g} M "
                                   rf"latency budget of {board}", why)]
        assert len(memory) + len(latency) == len(base.tried), base.tried
    monkeypatch.setitem(boards.BOARDS, "qemu-an386", replace(boards.BOARDS["qemu-an386"], max_instructions=None))
    an386 = board_fit.choose_base("qemu-an386", recipe, [], search=True)
    assert an386.option == board_fit.BaseOption(1.0, 128) and an386.tried == []
    monkeypatch.setitem(boards.BOARDS, "nano33ble", replace(boards.BOARDS["nano33ble"], max_instructions=None))
    monkeypatch.setitem(boards.BOARDS, "stm32f405", replace(boards.BOARDS["stm32f405"], max_instructions=None))
    nano = board_fit.choose_base("nano33ble", recipe, [], search=True)
    assert nano.option == board_fit.BaseOption(1.0, 128) and nano.tried == []
    base = board_fit.choose_base("stm32f405", recipe, [], search=True)
    assert base.option == board_fit.BaseOption(1.0, 96) and base.recipe.shape == [96, 96]
    assert [t[0] for t in base.tried] == ["MobileNetV2 1.0 at 128 px"]
    assert all(re.match(r"needs \d+ KB of RAM.*stm32f405 has", why) for _, why in base.tried)
    deep = replace(recipe, shape=[64, 64], density="knn")  # stride 8 + stride 16: 856 KB of weights
    shallow = replace(deep, extra_layers=[])
    deep_kb, shallow_kb = (board_fit.bank_kb_for("stm32f405", r) for r in (deep, shallow))
    assert board_fit.MIN_BANK_KB <= deep_kb < shallow_kb == board_fit.MAX_BANK_KB
    for r, kb in ((deep, deep_kb), (shallow, shallow_kb)):
        assert board_fit.Budget("stm32f405")(r, latency=False) is None
        assert board_fit.Budget("stm32f405").settle(r).bank_kb == kb


def test_wide_images_keep_the_wide_backbone_at_a_smaller_side(tmp_path, weights, monkeypatch):
    """Images of 1.6:1 (battery_weld's median aspect): the 1.0 backbone at 96 px (144x96)
    takes over qemu-an386's 25 M instructions, so its bases are the next two rungs that fit,
    64 px (96x64) and 56 px (88x56); the 0.35 backbone's first two fitting rungs come too, all
    to be compared on validation. Each base fits the board and its shape is whole for its
    candidates."""
    from PIL import Image

    from vadtool import board_fit, search
    from vadtool.cli import _recipe
    from vadtool.models import fomo_ad
    paths = []
    for n in range(3):
        paths.append(tmp_path / f"{n}.png")
        Image.new("RGB", (160, 100), (n, n, n)).save(paths[-1])
    recipe = _recipe(fomo_ad.FomoAdRecipe, {}, None, {}, {}, {})
    monkeypatch.setitem(board_fit.BASE_OPTIONS, "qemu-an386", board_fit.LADDER[1:])
    assert board_fit.LADDER[1] == board_fit.BaseOption(1.0, 96)
    bases = board_fit.choose_bases("qemu-an386", recipe, paths, search=True)
    assert [b.option for b in bases] == [board_fit.BaseOption(1.0, 64), board_fit.BaseOption(1.0, 56),
                                         board_fit.BaseOption(0.35, 96), board_fit.BaseOption(0.35, 80)]
    assert [b.recipe.shape for b in bases] == [[64, 96], [56, 88], [96, 160], [80, 128]]
    assert [t[0] for t in bases[0].tried] == ["MobileNetV2 1.0 at 96 px"]
    assert re.fullmatch(r"takes ~\d+ M instructions per image, over the 25 M latency budget of qemu-an386",
                        bases[0].tried[-1][1]), bases[0].tried
    assert all(b.tried == bases[0].tried for b in bases)  # the rungs below the second are not tried
    for b in bases:
        assert board_fit.why_not("qemu-an386", board_fit.recipe_cost(b.recipe, board="qemu-an386")) is None
        kept = search.candidates(b.recipe)
        assert all(side % fomo_ad.output_stride(c.recipe(b.recipe)) == 0 for c in kept for side in b.recipe.shape)
    monkeypatch.setattr(board_fit, "RUNGS_PER_BACKBONE", 1)
    one = board_fit.choose_bases("qemu-an386", recipe, paths, search=True)
    assert [b.option for b in one] == [board_fit.BaseOption(1.0, 64), board_fit.BaseOption(0.35, 96)]
    assert board_fit.choose_base("qemu-an386", recipe, paths, search=True).option == bases[0].option


def test_knn_bank_fills_the_latency_budget_to_its_share(weights):
    """Where latency, not flash, limits a knn bank (qemu-an386: 4 MB of flash), the bank is
    the largest whole number of KB whose estimate stays within BANK_LATENCY_SHARE of the
    budget: the network's estimate runs a little under QEMU's count, so a bank filled to the
    brim can go over on the device."""
    from dataclasses import replace

    from vadtool import board_fit
    from vadtool.boards import get_board
    from vadtool.cli import _recipe
    from vadtool.models.fomo_ad import FomoAdRecipe
    base = _recipe(FomoAdRecipe, {}, None, {}, {}, {})
    recipe = replace(base, shape=[56, 88], size=56, density="knn", extra_layers=[], project=32)
    board = get_board("qemu-an386")
    kb = board_fit.bank_kb_for(board, recipe)
    assert board_fit.MIN_BANK_KB < kb < board_fit.MAX_BANK_KB
    share = board_fit.BANK_LATENCY_SHARE * board.max_instructions
    assert board_fit.recipe_cost(replace(recipe, bank_kb=kb), board=board).instructions <= share
    assert board_fit.recipe_cost(replace(recipe, bank_kb=kb + 1), board=board).instructions > share
