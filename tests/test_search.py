"""The recipe search and its validation set: synthetic anomalies with exact masks, the
threshold rule, determinism, and that training never reads the test split."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from vadtool import synth, validation
from vadtool.cli import cli
from vadtool.errors import DatasetError


def _normals(n=4, h=48, w=96, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = (90 + 60 * np.sin(xx / 7.0) * np.cos(yy / 5.0))[..., None] * np.array([1.0, 0.9, 0.8])
    return np.stack([np.clip(base + rng.normal(0, 3, base.shape), 0, 255).astype(np.uint8) for _ in range(n)])


@pytest.mark.parametrize("defect", synth.REAL_DEFECTS)
def test_each_defect_changes_exactly_its_mask(defect):
    normals = _normals()
    out, mask = synth.add_defect(normals[0], np.random.default_rng(1), defect, donors=normals[1:])
    changed = (out != normals[0]).any(-1)
    assert mask.dtype == np.uint8 and mask.shape == normals.shape[1:3]
    assert mask.any() and np.array_equal(mask.astype(bool), changed)


def test_synthetic_anomalies_are_deterministic_with_exact_masks_and_owners():
    normals = _normals(5)
    a = validation.synthetic_anomalies(normals, seed=7)
    b = validation.synthetic_anomalies(normals, seed=7)
    c = validation.synthetic_anomalies(normals, seed=8)
    assert np.array_equal(a.images, b.images) and a.defects == b.defects
    assert not np.array_equal(a.images, c.images)
    assert len(a.images) == len(normals) * validation.DEFECTS_PER_IMAGE
    for image, mask, owner in zip(a.images, a.masks, a.owner):
        assert np.array_equal(mask.astype(bool), (image != normals[owner]).any(-1))
    assert set(a.defects) == set(synth.REAL_DEFECTS)  # every kind in turn
    held = a.subset([1, 3])
    assert set(held.owner) == {1, 3} and len(held.images) == 2 * validation.DEFECTS_PER_IMAGE


def test_threshold_is_the_best_f1_cut_between_two_scores():
    scores = np.array([0.1, 0.2, 0.3, 0.9, 0.35, 0.8, 0.7])
    labels = np.array([0, 0, 0, 1, 0, 1, 1])
    threshold, source = validation.choose_threshold(scores, labels)
    assert 0.35 < threshold < 0.7 and source.startswith("best F1")
    assert ((scores > threshold) == labels.astype(bool)).all()
    # ties are never split: the cut lies between distinct scores
    threshold, _ = validation.choose_threshold(np.array([1.0, 1.0, 2.0]), np.array([0, 1, 1]))
    assert threshold < 1.0 or threshold >= 2.0
    # no anomalies: the highest normal score, as before
    assert validation.choose_threshold(np.array([0.3, 0.5]), np.array([0, 0]))[0] == 0.5


def test_user_folder_without_anomalies_is_refused(tmp_path):
    (tmp_path / "val" / "good").mkdir(parents=True)
    with pytest.raises(DatasetError, match="no anomalous images"):
        validation.user_folder(tmp_path / "val")


def test_val_folder_without_anomalies_is_one_line_and_exit_2(tmp_path, synth_data):
    (tmp_path / "val" / "good").mkdir(parents=True)
    result = CliRunner().invoke(cli, ["train", "fomo-ad", str(synth_data), "--out", str(tmp_path / "run"),
                                      "--val", str(tmp_path / "val")])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "no anomalous images" in lines[0] and str(tmp_path / "val") in lines[0]
    assert not (tmp_path / "run").exists()


def test_search_and_explicit_options_do_not_mix(tmp_path, synth_data):
    result = CliRunner().invoke(cli, ["train", "fomo-ad", str(synth_data), "--out", str(tmp_path / "run"),
                                      "--search", "--density", "knn"])
    assert result.exit_code == 2 and "--density" in result.output


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    return synth.make_dataset(tmp_path_factory.mktemp("search") / "parts", seed=11, size=64,
                              n_train=15, n_test_good=3, n_per_defect=2)


class _OpenedFiles:
    """Every path Python opens while recording (an audit hook sees C-level opens too)."""
    paths: list = []
    recording = False

    @classmethod
    def hook(cls, event, args):
        if cls.recording and event == "open" and isinstance(args[0], (str, bytes, Path)):
            cls.paths.append(str(args[0]))


sys.addaudithook(_OpenedFiles.hook)


def _train(data, out, *extra):
    return CliRunner().invoke(cli, ["-q", "train", "fomo-ad", str(data), "--out", str(out), "--size", "64",
                                    *map(str, extra)])


def test_search_is_deterministic_reads_no_test_file_and_records_its_table(tmp_path, small_set, weights):
    _OpenedFiles.paths, _OpenedFiles.recording = [], True
    try:
        first = _train(small_set, tmp_path / "a")
    finally:
        _OpenedFiles.recording = False
    assert first.exit_code == 0, first.output
    opened = [p for p in _OpenedFiles.paths if str(small_set) in p]
    assert any("/train/good/" in p for p in opened)  # the hook does see the dataset's files
    assert not [p for p in opened if "/test/" in p or "/ground_truth/" in p]

    second = _train(small_set, tmp_path / "b")
    assert second.exit_code == 0, second.output
    a = json.loads((tmp_path / "a" / "vadtool.json").read_text())
    b = json.loads((tmp_path / "b" / "vadtool.json").read_text())
    untimed = [[{k: v for k, v in r.items() if k != "fit_seconds"} for r in m["search"]["candidates"]] for m in (a, b)]
    assert untimed[0] == untimed[1] and a["threshold"] == b["threshold"]
    chosen = [r for r in a["search"]["candidates"] if r.get("chosen")]
    assert len(chosen) == 1 and a["search"]["chosen"] == chosen[0]["candidate"]
    assert chosen[0]["rank_key"] >= max(r["rank_key"] for r in a["search"]["candidates"]) - 0.005
    assert a["threshold_source"] == "best F1 on the validation set"
    # every candidate's per-family numbers are recorded, and its key is the rule's summary of them
    from vadtool import search
    assert a["search"]["rule"] == search.RULE
    for r in a["search"]["candidates"]:
        assert r["val_auroc_family"] and set(r["val_auroc_family"]) <= set(synth.REAL_DEFECTS)
        assert r["rank_key"] == pytest.approx(search.synthetic_key(r, search.RULE))
    assert a["recipe"]["density"] in chosen[0]["candidate"] and a["recipe"]["image_score"] in chosen[0]["candidate"]
    counts = a["validation"]
    assert counts["normal"] == 3 and counts["synthetic"] == 3 * validation.DEFECTS_PER_IMAGE
    saved = validation.ValidationSet.load(tmp_path / "a" / validation.VALIDATION_FILE)
    assert len(saved) == counts["normal"] + counts["anomalous"]
    assert all(m.any() for m, label in zip(saved.masks, saved.labels) if label)


def test_user_val_images_join_the_ranking_and_the_threshold(tmp_path, small_set, weights):
    import shutil
    val = tmp_path / "val"
    shutil.copytree(small_set / "test" / "good", val / "good")
    shutil.copytree(small_set / "test" / "spot", val / "spot")
    result = _train(small_set, tmp_path / "run", "--val", val)
    assert result.exit_code == 0, result.output
    m = json.loads((tmp_path / "run" / "vadtool.json").read_text())
    assert m["validation"]["user"] == len(list(val.rglob("*.png")))
    assert all("val_auroc_user" in r for r in m["search"]["candidates"])
    saved = validation.ValidationSet.load(tmp_path / "run" / validation.VALIDATION_FILE)
    assert sum(s.startswith("val:spot/") for s in saved.sources) == len(list((val / "spot").glob("*.png")))


def test_a_recipe_turns_the_search_off(tmp_path, small_set, weights):
    recipe = Path(__file__).resolve().parents[1] / "models" / "fomo-ad-gaussian.json"
    result = _train(small_set, tmp_path / "run", "--recipe", recipe)
    assert result.exit_code == 0, result.output
    m = json.loads((tmp_path / "run" / "vadtool.json").read_text())
    assert "search" not in m and m["recipe"]["density"] == "gaussian"
    assert m["threshold_source"] == "best F1 on the validation set"


def test_report_lists_the_search_best_first_with_the_chosen_one_marked():
    from vadtool.report.core import search_rows
    manifest = {"search": {"ranked_by": "x", "seconds": 3.0, "chosen": "b", "candidates": [
        {"candidate": "a", "grid": [2, 4], "channels": 8, "head_params": 10, "rank_key": 0.7, "val_auroc_synthetic": 0.7},
        {"candidate": "b", "grid": [2, 4], "channels": 8, "head_params": 5000, "rank_key": 0.9,
         "val_auroc_synthetic": 0.9, "chosen": True},
        {"candidate": "c", "grid": [1, 2], "channels": 8, "head_params": 10, "rank_key": 0.8,
         "val_auroc_synthetic": 0.8, "excluded": "needs 300 KB of RAM"}]}}
    rows = search_rows(manifest)["rows"]
    assert [r["candidate"] for r in rows] == ["b", "c", "a"]
    assert [r["chosen"] for r in rows] == [True, False, False] and rows[0]["head_params"] == "5,000"
    assert rows[1]["excluded"] == "needs 300 KB of RAM" and rows[0]["user"] == "–"
    assert search_rows({}) is None


def test_without_a_size_the_search_tries_each_input_side_and_keeps_one(tmp_path, small_set, weights):
    from vadtool import search
    result = CliRunner().invoke(cli, ["-q", "train", "fomo-ad", str(small_set), "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    m = json.loads((tmp_path / "run" / "vadtool.json").read_text())
    rows = m["search"]["candidates"]
    inputs = sorted({tuple(r["input"]) for r in rows}, reverse=True)
    sides = search.input_sides(128, search.output_stride(search.fomo_ad.FomoAdRecipe()))
    assert [min(i) for i in inputs] == sides  # every side searched (the small set is square)
    chosen = [r for r in rows if r.get("chosen")]
    assert len(chosen) == 1 and m["search"]["chosen"] == chosen[0]["candidate"]
    assert chosen[0]["input"] == [m["input"]["height"], m["input"]["width"]]
    assert chosen[0]["candidate"].endswith(f" @ {m['input']['width']}x{m['input']['height']}")
    assert len({r["candidate"] for r in rows}) == len(rows)  # names stay unique (tracking keys on them)
    best = max(r["rank_key"] for r in rows if "excluded" not in r)
    # a near-tie may go to the cheaper head within a side and again to the smaller side
    assert chosen[0]["rank_key"] >= best - 2 * search.TIE


def test_input_sides_and_the_side_tie_rule():
    from types import SimpleNamespace

    from vadtool import search
    assert search.input_sides(128, 16) == [128, 96, 64]
    assert search.input_sides(48, 16) == [48, 32]  # rounded to the stride, never under 32
    result = lambda key: SimpleNamespace(table=[{"rank_key": key, "chosen": True}, {"rank_key": 0.1}])
    assert search.choose_side([result(0.90), result(0.80)]) == 0
    assert search.choose_side([result(0.90), result(0.897)]) == 1  # a near-tie: the smaller input
    assert search.choose_side([result(0.80), result(0.95), result(0.93)]) == 1
    # with an order of preference (a board's bases: the board's order), a near-tie goes to the
    # preferred one wherever it is in the list, and a clear winner wins whatever its place
    assert search.choose_side([result(0.90), result(0.897)], prefer=[0, 1]) == 0
    assert search.choose_side([result(0.897), result(0.90)], prefer=[0, 1]) == 0
    assert search.choose_side([result(0.90), result(0.897), result(0.80)], prefer=[2, 1, 0]) == 1
    assert search.choose_side([result(0.80), result(0.90)], prefer=[0, 1]) == 1


def test_a_fixed_shape_keeps_the_candidates_whose_grid_it_divides():
    """The 1.0 backbone's grid has strides 8 (s8 pool 3/1), 16 and 32 (stride-16 layers pooled
    7/2); a side of 56 px is a multiple of 8 only, 48 of 16, 64 of 32. side_stride gives a
    board rung's step, and a shape at that step keeps exactly the candidates whose cell grid
    is whole (without a shape: all of them)."""
    from dataclasses import replace

    from vadtool import search
    from vadtool.models import fomo_ad
    base = fomo_ad.FomoAdRecipe()
    grid = search.candidates(base)
    stride = {c: fomo_ad.output_stride(c.recipe(base)) for c in grid}
    assert set(stride.values()) == {8, 16, 32}
    assert [search.side_stride(base, side) for side in (128, 64, 56, 48, 40, 36)] == [32, 32, 8, 16, 8, 32]
    for shape, step in (([64, 96], 32), ([56, 88], 8), ([48, 80], 16)):
        kept = search.candidates(replace(base, shape=shape))
        assert kept == [c for c in grid if stride[c] <= step], shape
        assert search.output_stride(replace(base, shape=shape)) == step
    assert {c.layers for c in search.candidates(replace(base, shape=[56, 88]))} == {(search.STRIDE8,)}
    assert search.candidates(replace(base, shape=[50, 90])) == grid  # none whole: the shape check says why


def test_defects_rescaled_to_a_smaller_input_fade_like_real_ones_with_exact_masks():
    from PIL import Image
    big = _normals(3, h=96, w=192)
    small = np.stack([np.asarray(Image.fromarray(im).resize((96, 48), Image.Resampling.BILINEAR)) for im in big])
    painted = validation.synthetic_anomalies(big, seed=5)
    painted.images[0] = big[painted.owner[0]]
    painted.images[0][40, 10:180] = 0  # a one-pixel crack across the part
    out = validation.rescaled(painted, big, small)
    assert out.images.shape == (len(painted.images), 48, 96, 3) and out.defects == painted.defects
    assert np.array_equal(out.owner, painted.owner) and np.array_equal(out.faint, painted.faint)
    for image, mask, owner in zip(out.images, out.masks, out.owner):
        assert np.array_equal(mask.astype(bool), (image != small[owner]).any(-1))
    # the crack halves in width and so fades: at most about half its depth is left per pixel
    depth_big = big[painted.owner[0]][40, 10:180].astype(int).mean()  # painted down to 0
    depth_small = (small[out.owner[0]][:, 5:90].astype(int) - out.images[0][:, 5:90]).max(0).mean()
    assert 0.2 * depth_big < depth_small < 0.7 * depth_big
    unchanged = validation.Synthetic(big[:1].copy(), np.zeros((1, 96, 192), np.uint8), ["spot"],
                                     np.array([0]), np.array([False]))
    back = validation.rescaled(unchanged, big, small)
    assert np.array_equal(back.images[0], small[0]) and not back.masks.any()


def test_the_shared_any_size_backbone_gives_each_sides_maps_bit_for_bit(weights):
    """The searches of every input side share one backbone built for any input size; what
    it extracts must equal the fixed-size backbone the network is built from."""
    from vadtool import search
    from vadtool.models import fomo_ad
    base = fomo_ad.FomoAdRecipe()
    shared = search.search_backbone(base)
    rng = np.random.default_rng(0)
    for h, w in ((64, 96), (96, 64)):
        fixed = fomo_ad.backbone_model(fomo_ad.FomoAdRecipe(shape=[h, w]), search.search_layers(base))
        images = rng.integers(0, 256, (3, h, w, 3)).astype(np.float32)
        got, want = shared(images, training=False), fixed(images, training=False)
        assert len(got) == len(want) == 2
        for g, x in zip(got, want):
            assert g.shape == x.shape and np.array_equal(np.asarray(g), np.asarray(x))


def test_board_knn_candidates_project_and_rank_the_coreset_the_device_holds():
    """On a board, knn is also tried on whitened principal components (search.PROJECT_DIMS),
    narrower ones being the leading columns of the widest (one SVD per fold); its bank is the
    k-center coreset of the board's bytes (bank_rows), the very rows training keeps, so the
    validation set ranks the head the device runs. Without a board: neither."""
    from types import SimpleNamespace

    from vadtool import search
    from vadtool.errors import ModelError
    from vadtool.models import fomo_ad, projection
    from vadtool.models.int_head import greedy_coreset
    base = fomo_ad.FomoAdRecipe()
    plain, board = search.candidates(base), search.candidates(base, board=True)
    extra = [c for c in board if c not in plain]
    assert {c.project for c in extra} == set(search.PROJECT_DIMS) and {c.density for c in extra} == {"knn"}
    assert len(extra) == len(search.PROJECT_DIMS) * len([c for c in plain if c.density == "knn"])
    pca = next(c for c in extra if c.project == 32)
    assert "knn pca32" in pca.name and pca.recipe(base).project == 32
    assert pca.recipe(base).max_cells == search.KNN_BANK_CELLS  # the pool the coreset picks from

    rng = np.random.default_rng(0)
    cells = (rng.normal(size=(30, 4, 4, 8)) @ rng.normal(size=(8, 96))).astype(np.float32)
    cells += 0.01 * rng.normal(size=cells.shape).astype(np.float32)
    cache = {}
    narrow = search._fold_projection(cache, 0, cells, 16, 96)
    wide = projection.fit_projection(cells, max(search.PROJECT_DIMS))
    assert np.allclose(narrow(cells[:2]), projection.project(cells[:2], wide[0][:, :16], wide[1][:16]), atol=1e-4)
    assert list(cache) == [0] and cache[0][0].shape == (96, max(search.PROJECT_DIMS))
    with pytest.raises(ModelError):
        search._fold_projection({}, 0, cells, 96, 96)  # no fewer components than channels

    budget = SimpleNamespace(settle=lambda r: SimpleNamespace(bank_kb=2))
    knn = pca.recipe(base)
    assert search.bank_rows(budget, knn, 32) == 64 and search.bank_rows(None, knn, 32) is None
    assert search.bank_rows(budget, plain[0].recipe(base), 32) is None  # not knn
    flat = cells.reshape(-1, 96)[:, :32]
    density = fomo_ad.fit_density(knn, flat.reshape(30, 4, 4, 32), bank_rows=64)
    assert np.array_equal(density.means, flat.astype(np.float64)[greedy_coreset(flat.astype(np.float64), 64)])


def test_a_boards_knn_coreset_comes_from_every_fit_cell_not_the_ranking_pool():
    """The chosen knn head's coreset is picked from the whole fit split (up to
    CORESET_POOL_CELLS), as PatchCore picks from the whole bank: three rare normal cells among
    40,000, which a random pool of KNN_BANK_CELLS keeps all of about once in a thousand, are
    all in the board's bank. Without a board the recipe is fitted as the search ranked it."""
    from types import SimpleNamespace

    from vadtool import search
    from vadtool.models import fomo_ad
    base = fomo_ad.FomoAdRecipe()
    knn = next(c for c in search.candidates(base, board=True) if c.project == 16).recipe(base)
    assert knn.max_cells == search.KNN_BANK_CELLS < 40000 <= search.CORESET_POOL_CELLS
    rng = np.random.default_rng(3)
    cells = rng.normal(size=(2500, 4, 4, 16)).astype(np.float32)
    rare = [(7, 1, 2), (1200, 3, 0), (2411, 0, 3)]
    for n, (i, y, x) in enumerate(rare):
        cells[i, y, x] = 40.0 * (n + 1)  # far from everything else, and from each other
    val = rng.normal(size=(6, 4, 4, 16)).astype(np.float32)
    labels = np.array([0, 0, 0, 1, 1, 1])
    budget = SimpleNamespace(settle=lambda r: SimpleNamespace(bank_kb=1))  # 64 rows of 16
    seen = []
    recipe, density, *_ = search.fit_chosen(knn, cells, val, labels, budget,
                                            lambda what, done, total: seen.append((what, done, total)))
    assert recipe.max_cells == search.CORESET_POOL_CELLS and len(density.means) == 64
    for i, y, x in rare:
        assert any(np.array_equal(row, cells[i, y, x]) for row in density.means), (i, y, x)
    assert seen == [("search: 64-cell coreset of 40,000 normal cells", 0, 1),
                    ("search: 64-cell coreset of 40,000 normal cells", 1, 1)]
    same, unbounded, *_ = search.fit_chosen(knn, cells, val, labels, None)
    assert same == knn and len(unbounded.means) == search.KNN_BANK_CELLS


def test_partial_auroc_is_the_standardised_area_up_to_the_false_positive_limit():
    from vadtool import search
    normal = np.arange(10.0)
    assert search.partial_auroc(normal, normal + 100) == 1.0  # every anomaly above every normal
    assert search.partial_auroc(normal, normal - 100) < 0.5  # every anomaly below: worse than chance
    # one normal above every anomaly: the first 10 % of false positives catch none of them
    assert search.partial_auroc(np.r_[normal[:9], 50.0], np.arange(20.0, 30.0)) < 0.5
    # the same normal among the anomalies' bottom half catches half of them before it
    half = search.partial_auroc(np.r_[normal[:9], 25.0], np.arange(20.0, 30.0))
    assert 0.5 < half < 1.0
    assert search.partial_auroc(normal, np.array([])) is None


def _score_table():
    """Two candidates on 20 normals and defects of three families: "wide" catches the many
    spots and misses the cracks and stains; "even" catches a good part of every family."""
    rng = np.random.default_rng(0)
    normal = rng.normal(0, 1, 20)
    families = ["spot"] * 40 + ["crack"] * 10 + ["stain"] * 10
    wide = np.r_[rng.normal(6, 1, 40), rng.normal(0, 1, 20)]
    even = rng.normal(1.0, 1, 60)
    return normal, families, {"wide": wide, "even": even}


def test_the_rule_ranks_by_its_own_summary_of_the_synthetic_defects():
    from vadtool import metrics, search
    normal, families, cands = _score_table()
    faint = np.arange(len(families)) % 2 == 1
    rows = {}
    for name, syn in cands.items():
        row = search.rank_scores(normal, syn, None, None, families, faint, rule="pooled")
        assert set(row["val_auroc_family"]) == {"spot", "crack", "stain"}
        fam = np.array(families)
        for f, v in row["val_auroc_family"].items():  # each family's AUROC, on its own defects only
            assert v == metrics.auroc(np.r_[np.zeros(20), np.ones((fam == f).sum())], np.r_[normal, syn[fam == f]])
        assert row["val_auroc_faint"] == metrics.auroc(np.r_[np.zeros(20), np.ones(faint.sum())],
                                                       np.r_[normal, syn[faint]])
        rows[name] = row
    # pooled, the spots outnumber the rest and "wide" wins; by family, "even" wins
    assert rows["wide"]["rank_key"] > rows["even"]["rank_key"]
    for rule in ("family-mean", "family-worst"):
        keys = {n: search.rank_scores(normal, s, None, None, families, faint, rule=rule)["rank_key"]
                for n, s in cands.items()}
        assert keys["even"] > keys["wide"], rule
        assert keys == {n: search.synthetic_key(rows[n], rule) for n in cands}
    # without families, every rule falls back to the pooled AUROC
    for rule in search.RULES:
        plain = search.rank_scores(normal, cands["even"], None, None, rule=rule)
        assert plain["rank_key"] == (plain["val_pauc_synthetic"] if rule == "pauc" else plain["val_auroc_synthetic"])
    with pytest.raises(ValueError, match="rule must be one of"):
        search.synthetic_key(rows["even"], "best-on-test")


def test_choose_row_takes_the_best_key_and_gives_a_near_tie_to_the_smaller_head():
    from vadtool import search
    from vadtool.errors import ModelError
    rows = [{"candidate": "big", "head_params": 9000, "rank_key": 0.950},
            {"candidate": "small", "head_params": 100, "rank_key": 0.947},
            {"candidate": "tiny", "head_params": 10, "rank_key": 0.90},
            {"candidate": "best", "head_params": 50, "rank_key": 0.99, "excluded": "too big"}]
    assert search.choose_row(rows)["candidate"] == "small"
    assert search.choose_row(rows[:1] + rows[2:3])["candidate"] == "big"
    with pytest.raises(ModelError, match="too big"):
        search.choose_row(rows[3:])


def test_the_default_rule_picks_the_even_candidate_on_a_constructed_table():
    """The default ranking (the family mean, chosen by leave-one-family-out meta-validation,
    bench/search_meta.py) on the table above, head sizes equal: the candidate that catches a
    part of every family wins; the pooled AUROC (the rule before) took the one that catches
    only the many spots."""
    from vadtool import search
    normal, families, cands = _score_table()
    faint = np.arange(len(families)) % 2 == 1
    assert search.RULE == "family-mean"
    def rows(rule=None):
        return [dict(candidate=n, head_params=100, **search.rank_scores(normal, s, None, None, families, faint, rule))
                for n, s in cands.items()]
    assert search.choose_row(rows())["candidate"] == "even"
    assert search.choose_row(rows("pooled"))["candidate"] == "wide"
