"""Recipe search: the FOMO-AD recipe for the user's data, chosen on the validation set.

Candidates differ in the backbone layers read per cell, the pooling, the density and the
image-score pooling. Backbone features are extracted once (one network with every layer
any candidate reads) for the fit images and the validation images; each candidate's cells
come from those maps through the same Keras pooling layers its network will have, each
density is fitted once and scored once, and every image pooling reuses its cell scores.
The ranking is validation image AUROC (held-back normals against synthetic anomalies, a mean
of one AUROC per defect family (RULE), and the user's own, never the test split); near-ties
go to the cheaper candidate. train.py runs
this search once per input side (input_sides) and keeps the best (choose_side).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np

from . import geometry, metrics
from .errors import ModelError
from .models import fomo_ad
from .models.density import POOLINGS, Density, image_scores
from .progress import Progress, quiet
from .validation import ValidationSet

STRIDE8, STRIDE16 = "block_6_expand_relu", "block_13_expand_relu"
LAYER_SETS = ((STRIDE8,), (STRIDE8, STRIDE16), (STRIDE16,))
POOLS = ((3, 1), (7, 2))  # fine cells for thin defects; coarse cells for spread ones
DENSITIES = ("gaussian", "gmm", "knn", "per-position")
# What each density costs decides where it is tried: a covariance per cell position or per
# mixture component is C^2 numbers, fitted from few cells; the bank's nearest-neighbour
# search grows with grid cells x bank cells.
PER_POSITION_MAX_CELLS = 64
MAX_COVARIANCES_CHANNELS = 256  # gmm and per-position only on the narrow (stride-8) features
GMM_COMPONENTS = 4
KNN_BANK_CELLS = 4096  # random normal cells kept in a searched knn bank
# knn on a board: the cells projected to this many whitened principal components
# (models/projection.py), so the board's bank holds C / dims times more cells and each costs
# fewer multiply-adds; the validation set chooses among them and the unprojected bank. A
# board's bank is the greedy k-center coreset, of its bytes, of the KNN_BANK_CELLS random pool
# while the search ranks (k-center's time grows with pool x bank cells); the chosen one's is
# taken from every cell of the fit split, up to CORESET_POOL_CELLS, as PatchCore takes its
# coreset from the whole bank: a random pool first would drop the rare normal cells k-center
# is there to keep.
PROJECT_DIMS = (16, 32, 64)
PROJECTION_CELLS = 5000  # normal cells a fold's principal components are computed on
CORESET_POOL_CELLS = 65536
TIE = 0.005  # validation AUROCs closer than this are a tie, which the cheaper candidate wins
# Input sides tried (shorter side, times the recipe's): a defect that spans many cells at the
# full size may be clearer when the backbone sees more of the part per cell
SIDE_FACTORS = (1.0, 0.75, 0.5)


@dataclass(frozen=True)
class Candidate:
    layers: tuple[str, ...]
    pool: int
    pool_stride: int
    density: str
    image_score: str
    project: int = 0  # knn: whitened principal components kept (0: all channels)

    @property
    def name(self) -> str:
        short = "+".join({STRIDE8: "s8", STRIDE16: "s16"}.get(l, l) for l in self.layers)
        density = f"{self.density} pca{self.project}" if self.project else self.density
        return f"{short} pool {self.pool}/{self.pool_stride} {density} {self.image_score}"

    def recipe(self, base: fomo_ad.FomoAdRecipe) -> fomo_ad.FomoAdRecipe:
        return replace(base, backbone=replace(base.backbone, cut=self.layers[0]),
                       extra_layers=list(self.layers[1:]), pool=self.pool, pool_stride=self.pool_stride,
                       density=self.density, image_score=self.image_score,
                       components=GMM_COMPONENTS if self.density == "gmm" else base.components,
                       max_cells=min(base.max_cells, KNN_BANK_CELLS) if self.density == "knn" else base.max_cells,
                       project=self.project)


def candidates(base: fomo_ad.FomoAdRecipe, board: bool = False) -> list[Candidate]:
    """The grid for this backbone: the stride-8 and stride-16 layers of MobileNetV2 1.0; other
    backbones (a weights file cut early) keep their own layers and vary the rest. board: knn
    also on PROJECT_DIMS principal components (a board's bank is bounded in bytes and time)."""
    default_backbone = base.backbone.arch == "mobilenet_v2" and base.backbone.alpha == 1.0
    layer_sets = LAYER_SETS if default_backbone else (
        tuple([base.backbone.cut] + [l for l in base.extra_layers if l != base.backbone.cut]),)
    projections = (0, *PROJECT_DIMS) if board else (0,)
    grid = [Candidate(tuple(layers), pool, stride, density, pooling, project)
            for layers in layer_sets for pool, stride in POOLS
            for density in DENSITIES for project in (projections if density == "knn" else (0,))
            for pooling in POOLINGS]
    shape = base.shape or []
    if len(shape) == 2 and all(isinstance(s, (int, np.integer)) for s in shape):
        # a fixed input shape keeps the candidates whose cell grid it divides (80x48: none of
        # the stride-32 ones); none at all: the whole grid, and the shape check says why
        whole = [c for c in grid if all(s % _stride(c, base) == 0 for s in shape)]
        return whole or grid
    return grid


def _stride(candidate: Candidate, base: fomo_ad.FomoAdRecipe) -> int:
    return fomo_ad.output_stride(candidate.recipe(base))


def side_stride(base: fomo_ad.FomoAdRecipe, side: int) -> int:
    """The step of an input shape whose shorter side is ``side``: the coarsest candidate stride
    that divides it (64: 32, every candidate; 48: 16; 56: 8, the stride-8 cells of pool 3/1
    only), else the coarsest of all (the side is then rounded to it)."""
    strides = sorted({_stride(c, base) for c in candidates(replace(base, shape=None))})
    dividing = [s for s in strides if side % s == 0]
    return dividing[-1] if dividing else strides[-1]


FOLDS = 3  # cross-fitting: every normal image is scored by a head that never saw it
# Normal images ranked on (with their synthetic defects): a few hundred pin an AUROC down to
# about 0.02; more only cost time (extraction and nearest-neighbour search grow with them)
RANKED_IMAGES = 150


@dataclass
class SearchResult:
    recipe: fomo_ad.FomoAdRecipe
    density: Density  # fitted on the fit split
    threshold: float
    threshold_source: str
    table: list[dict]  # one row per candidate, the chosen one marked
    fit_features: np.ndarray
    validation_cells: np.ndarray  # the chosen head's cell scores of the validation images
    seconds: float
    # each candidate's out-of-fold image scores of the ranked normals and of the synthetic
    # anomalies (for meta-validation of the ranking rule; not saved in the run)
    scores: dict = field(default_factory=dict)
    families: list = field(default_factory=list)  # each synthetic anomaly's defect family
    faint: np.ndarray | None = None
    projection: tuple | None = None  # (matrix, bias) of a knn pca candidate, fitted on the fit split


def folds(n: int, k: int = FOLDS, seed: int = 0) -> np.ndarray:
    """The fold of each of n normal images (k folds, shuffled by seed)."""
    return np.random.default_rng(seed + 1).permutation(np.arange(n) % k)


# How the synthetic anomalies rank a candidate (the defect family of each is known):
# "pooled": one AUROC of the normals against all of them; "family-mean" / "family-worst": the
# mean / lowest of one AUROC per defect family (normals against that family's defects);
# "faint": the AUROC against the faint (blended) defects only; "pauc": the pooled AUROC up to
# 10 % false positives (McClish-standardised). RULE is the one meta-validation chose on
# training images only (bench/search_meta.py): leaving each defect family out in turn, the
# candidate picked from the other families lost least AUROC on the one left out with the
# family mean (mean regret 0.033 over battery_weld at seeds 0 and 1, magnetic_tile,
# mvtec_bottle and a synthetic texture set; pooled 0.039, pAUC 0.039, faint 0.048, worst
# family 0.052, a rank average over families 0.050). Pooled, a family with more images weighs
# more (spots also stand in for defects that left no mark); the mean weighs each kind once.
RULES = ("pooled", "family-mean", "family-worst", "faint", "pauc")
RULE = "family-mean"
PAUC_FPR = 0.1
RULE_TEXT = {"pooled": "image AUROC", "family-mean": "image AUROC, the mean over defect families",
             "family-worst": "image AUROC, the worst defect family",
             "faint": "image AUROC on the faint defects", "pauc": "image pAUC up to 10 % false positives"}


def family_of(defect: str) -> str:
    """The family of a synthetic defect name ("crack", "crack:faint" -> "crack")."""
    return defect.split(":")[0]


def partial_auroc(normal: np.ndarray, anomalous: np.ndarray, max_fpr: float = PAUC_FPR) -> float | None:
    """AUROC up to max_fpr false positives, McClish-standardised (0.5 chance, 1 perfect), as
    scikit-learn's roc_auc_score(max_fpr=...): ties count half, like metrics.auroc."""
    normal, anomalous = np.asarray(normal, np.float64), np.asarray(anomalous, np.float64)
    if not len(normal) or not len(anomalous):
        return None
    labels = np.r_[np.zeros(len(normal)), np.ones(len(anomalous))]
    scores = np.r_[normal, anomalous]
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], labels[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # the last of each run of equal scores
    tpr = np.r_[0, np.cumsum(y)[last] / y.sum()]
    fpr = np.r_[0, np.cumsum(1 - y)[last] / (1 - y).sum()]
    stop = np.searchsorted(fpr, max_fpr, "right")
    x = np.r_[fpr[:stop], max_fpr]
    t = np.r_[tpr[:stop], np.interp(max_fpr, fpr, tpr)]
    area = float(np.sum(np.diff(x) * (t[1:] + t[:-1]) / 2))
    lo, hi = max_fpr ** 2 / 2, max_fpr
    return 0.5 * (1 + (area - lo) / (hi - lo))


def synthetic_numbers(normal: np.ndarray, synthetic: np.ndarray, families: list[str] | None,
                      faint: np.ndarray | None) -> dict:
    """Every number a rule may rank by, of out-of-fold normal image scores against the
    synthetic anomalies' (families: each one's defect family; faint: blended in faintly)."""
    y = np.r_[np.zeros(len(normal)), np.ones(len(synthetic))]
    row = {"val_auroc_synthetic": metrics.auroc(y, np.r_[normal, synthetic]),
           "val_pauc_synthetic": partial_auroc(normal, synthetic)}
    if families is not None and len(families) == len(synthetic):
        fams = np.array([family_of(f) for f in families])
        row["val_auroc_family"] = {f: metrics.auroc(np.r_[np.zeros(len(normal)), np.ones(int((fams == f).sum()))],
                                                    np.r_[normal, synthetic[fams == f]])
                                   for f in sorted(set(fams))}
    if faint is not None and len(faint) == len(synthetic) and np.asarray(faint).any():
        faint = np.asarray(faint, bool)
        row["val_auroc_faint"] = metrics.auroc(np.r_[np.zeros(len(normal)), np.ones(int(faint.sum()))],
                                               np.r_[normal, synthetic[faint]])
    return row


def synthetic_key(row: dict, rule: str = RULE) -> float | None:
    """The synthetic anomalies' part of the rank key under ``rule`` (pooled when the rule's
    numbers are missing, e.g. no family known)."""
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, not {rule!r}")
    fam = [v for v in (row.get("val_auroc_family") or {}).values() if v is not None]
    if rule == "family-mean" and fam:
        return float(np.mean(fam))
    if rule == "family-worst" and fam:
        return float(np.min(fam))
    if rule == "faint" and row.get("val_auroc_faint") is not None:
        return row["val_auroc_faint"]
    if rule == "pauc" and row.get("val_pauc_synthetic") is not None:
        return row["val_pauc_synthetic"]
    return row.get("val_auroc_synthetic")


def rank_scores(normal: np.ndarray, synthetic: np.ndarray, user_normal: np.ndarray | None,
                user_anomalous: np.ndarray | None, families: list[str] | None = None,
                faint: np.ndarray | None = None, rule: str | None = None) -> dict:
    """The ranking: out-of-fold normal image scores against synthetic anomalies (ranked by
    ``rule``, RULE by default), and, with a --val folder, its normals and anomalies too; the
    key is the mean of the two."""
    row = synthetic_numbers(normal, synthetic, families, faint)
    if user_anomalous is not None and len(user_anomalous):
        negatives = np.r_[normal, user_normal if user_normal is not None else []]
        row["val_auroc_user"] = metrics.auroc(np.r_[np.zeros(len(negatives)), np.ones(len(user_anomalous))],
                                              np.r_[negatives, user_anomalous])
    parts = [k for k in (synthetic_key(row, rule or RULE), row.get("val_auroc_user")) if k is not None]
    row["rank_key"] = float(np.mean(parts)) if parts else 0.0
    return row


def choose_row(rows: list[dict]) -> dict:
    """The chosen row of one search's table: the best rank key among the rows not excluded;
    near-ties (within TIE) go to the smallest head: fewer bytes on the device, less to overfit."""
    eligible = [r for r in rows if "excluded" not in r]
    if not eligible:
        raise ModelError("no candidate recipe fits: " + (rows[0].get("excluded", "nothing to search")
                                                         if rows else "nothing to search"))
    best = max(r["rank_key"] for r in eligible)
    return min((r for r in eligible if r["rank_key"] >= best - TIE),
               key=lambda r: (r["head_params"], -r["rank_key"]))


def run(base: fomo_ad.FomoAdRecipe, normals: np.ndarray, fit_idx: np.ndarray,
        synthetic: np.ndarray, synthetic_owner: np.ndarray, validation: ValidationSet,
        budget=None, seed: int = 0, progress: Progress = quiet, backbone=None,
        synthetic_families: list[str] | None = None, synthetic_faint: np.ndarray | None = None) -> SearchResult:
    """Rank every candidate by cross-fitting on the normal training images (fitted on all of
    them, in FOLDS folds) and their synthetic anomalies (synthetic_owner: the normal image each
    was painted on; only those normal images are scored), plus the user's --val images in
    ``validation``; then fit the best on the fit split and set its threshold on ``validation``.
    budget(recipe, density) -> None when it fits, else the reason (a board's limits).
    backbone: search_backbone(base), to share one between the searches of several input sides.
    synthetic_families / synthetic_faint: each synthetic anomaly's defect family and whether it
    was blended in faintly (the per-family numbers in the table, and what RULE ranks by).

    numpy's BLAS runs on one thread meanwhile: the search's linear algebra is many small
    factorisations and products, which a threaded BLAS splits across cores busy with other
    work. On the project's 2-core machine under load 4, a 192x192 Cholesky took 7.2 ms
    threaded and 0.8 ms on one thread, a 576x576 one 400 ms and 6 ms; TensorFlow's own
    threads are not affected."""
    from threadpoolctl import threadpool_limits
    with threadpool_limits(1, user_api="blas"):
        return _run(base, normals, fit_idx, synthetic, synthetic_owner, validation, budget, seed,
                    progress, backbone, synthetic_families, synthetic_faint)


def _run(base, normals, fit_idx, synthetic, synthetic_owner, validation, budget, seed, progress,
         backbone, families=None, faint=None) -> SearchResult:
    started = time.perf_counter()
    grid = candidates(base, board=budget is not None)
    layers = search_layers(base)
    backbone = search_backbone(base) if backbone is None else backbone
    is_user = np.array([s.startswith("val:") for s in validation.sources], bool)
    maps = {"normal": _extract(backbone, normals, progress, "search: features of training images"),
            "synthetic": _extract(backbone, synthetic, progress, "search: features of synthetic anomalies")}
    maps["validation"] = _validation_maps(maps, backbone, validation, is_user, fit_idx, synthetic_owner, progress)
    fold = folds(len(normals), seed=seed)
    syn_fold = fold[synthetic_owner]
    table, fitted, kept = [], {}, {}
    heads = list(dict.fromkeys((c.layers, c.pool, c.pool_stride, c.density, c.project) for c in grid))
    cells: dict = {}
    projections: dict = {}  # fold -> the widest PROJECT_DIMS projection fitted on its normal cells
    for done, (cell_layers, pool, stride, density_kind, project) in enumerate(heads):
        progress("search: fit and score candidates", done, len(heads))
        key = (cell_layers, pool, stride)
        if key not in cells:
            cells.clear()  # one pooling at a time in memory
            projections.clear()
            pick = [layers.index(l) for l in cell_layers]
            model = fomo_ad.cell_grid_model([maps["normal"][i].shape[1:] for i in pick], pool, stride)
            cells[key] = {name: _apply(model, [m[i] for i in pick]) for name, m in maps.items()}
        c = cells[key]
        gh, gw, channels = c["normal"].shape[1:]
        wide = channels > MAX_COVARIANCES_CHANNELS
        if density_kind in ("gmm", "per-position") and wide or \
                density_kind == "per-position" and gh * gw > PER_POSITION_MAX_CELLS:
            continue
        candidate0 = Candidate(cell_layers, pool, stride, density_kind, POOLINGS[0], project)
        recipe = candidate0.recipe(base)
        if project and budget and budget(recipe):
            continue  # a projected bank that cannot fit the board is not worth its fitting time
        t = time.perf_counter()
        try:  # a projection needs more normal cells than components, varying in as many directions
            views = [_fold_projection(projections, f, c["normal"][fold != f], project, channels)
                     for f in range(FOLDS)]
        except ModelError:
            continue
        rows = bank_rows(budget, recipe, project or channels)
        ranked = np.isin(np.arange(len(fold)), synthetic_owner)  # the normals scored for the ranking
        normal_cells = np.zeros(c["normal"][ranked].shape[:3], np.float32)
        syn_cells = np.zeros(c["synthetic"].shape[:3], np.float32)
        user_cells = np.zeros(c["validation"][is_user].shape[:3], np.float32)
        for f in range(FOLDS):
            view = views[f]
            density = fomo_ad.fit_density(recipe, view(c["normal"][fold != f]), bank_rows=rows)
            normal_cells[fold[ranked] == f] = density.score(view(c["normal"][ranked & (fold == f)]), dtype=np.float32)
            if (syn_fold == f).any():
                syn_cells[syn_fold == f] = density.score(view(c["synthetic"][syn_fold == f]), dtype=np.float32)
            if is_user.any():  # every fold's head scores them; their mean is the score
                user_cells += density.score(view(c["validation"][is_user]), dtype=np.float32) / FOLDS
        seconds = time.perf_counter() - t
        user_labels = validation.labels[is_user]
        for pooling in POOLINGS:
            candidate = replace(candidate0, image_score=pooling)
            user = image_scores(user_cells, pooling) if is_user.any() else None
            row = {"candidate": candidate.name, "grid": [int(gh), int(gw)], "channels": int(project or channels),
                   "head_params": int(density.n_params), "fit_seconds": round(seconds, 2)}
            normal_scores, syn_scores = image_scores(normal_cells, pooling), image_scores(syn_cells, pooling)
            row.update(rank_scores(normal_scores, syn_scores,
                                   user[user_labels == 0] if user is not None else None,
                                   user[user_labels == 1] if user is not None else None, families, faint))
            kept[candidate.name] = (normal_scores, syn_scores)
            reason = budget(candidate.recipe(base), density) if budget else None
            if reason:
                row["excluded"] = reason
            table.append(row)
            fitted[candidate.name] = candidate
    progress("search: fit and score candidates", len(heads), len(heads))
    chosen_row = choose_row(table)
    chosen_row["chosen"] = True
    candidate = fitted[chosen_row["candidate"]]
    recipe = candidate.recipe(base)
    pick = [layers.index(l) for l in candidate.layers]
    model = fomo_ad.cell_grid_model([maps["normal"][i].shape[1:] for i in pick], candidate.pool, candidate.pool_stride)
    fit_cells = _apply(model, [maps["normal"][i][fit_idx] for i in pick])
    val_cells = _apply(model, [maps["validation"][i] for i in pick])
    fitted_projection = None
    if candidate.project:  # fitted on the fit split, as the network will compute it
        from .models import projection
        fitted_projection = projection.fit_projection(fit_cells, candidate.project)
        fit_cells, val_cells = (projection.project(x, *fitted_projection) for x in (fit_cells, val_cells))
    recipe, density, threshold, source, val_cell_scores = fit_chosen(
        recipe, fit_cells, val_cells, validation.labels, budget, progress)
    return SearchResult(recipe, density, threshold, source, table, fit_cells, val_cell_scores,
                        round(time.perf_counter() - started, 2), kept,
                        [family_of(f) for f in families] if families is not None else [],
                        np.asarray(faint, bool) if faint is not None else None, fitted_projection)


def fit_chosen(recipe: fomo_ad.FomoAdRecipe, fit_cells, val_cells, labels, budget, progress: Progress = quiet):
    """The chosen candidate's head on the fit split's cells, thresholded on the validation
    set: (recipe as fitted, density, threshold, its source, validation cell scores). A board's
    knn coreset is taken from every fit cell (up to CORESET_POOL_CELLS), not from the random
    pool the search ranked with; the recipe records the pool."""
    rows = bank_rows(budget, recipe, fit_cells.shape[-1])
    what = None
    if rows:
        recipe = replace(recipe, max_cells=max(recipe.max_cells, CORESET_POOL_CELLS))
        pool = min(int(np.prod(fit_cells.shape[:-1])), recipe.max_cells)
        what = f"search: {rows:,}-cell coreset of {pool:,} normal cells"
        progress(what, 0, 1)
    density, threshold, source, scores = fomo_ad.fit_head(recipe, fit_cells, val_cells, labels, bank_rows=rows)
    if what:
        progress(what, 1, 1)
    return recipe, density, threshold, source, scores


def bank_rows(budget, recipe: fomo_ad.FomoAdRecipe, channels: int) -> int | None:
    """The cells of a knn candidate's bank on the board (its bytes, from budget.settle, over
    its channels): what the search ranks and training keeps, so that validation scores the
    coreset the device will hold. None: no board, or not knn (the random pool as fitted)."""
    settle = getattr(budget, "settle", None)
    if recipe.density != "knn" or settle is None:
        return None
    return max(1, int(settle(recipe).bank_kb * 1024) // int(channels))


def _fold_projection(cache: dict, fold: int, normal_cells: np.ndarray, project: int, channels: int):
    """x -> x projected to ``project`` whitened components fitted on this fold's normal cells
    (identity for 0). The widest of PROJECT_DIMS below ``channels`` is fitted once per fold; a
    narrower one is its leading columns (principal components are nested). ModelError when
    ``project`` is not below ``channels`` or the cells cannot give as many components."""
    if not project:
        return lambda x: x
    from .models import projection
    if project >= channels:
        raise ModelError(f"{project} components of {channels} channels")
    if fold not in cache:
        cache[fold] = projection.fit_projection(normal_cells, max(d for d in PROJECT_DIMS + (project,) if d < channels),
                                                max_cells=PROJECTION_CELLS)
    matrix, bias = cache[fold]
    matrix, bias = matrix[:, :project], bias[:project]
    return lambda x: projection.project(x, matrix, bias)


def search_layers(base: fomo_ad.FomoAdRecipe) -> list[str]:
    """Every backbone layer any candidate reads."""
    return list(dict.fromkeys(l for c in candidates(base) for l in c.layers))


def search_backbone(base: fomo_ad.FomoAdRecipe):
    """One backbone for every input side: pixels of any size in, each of search_layers out
    (its maps equal a fixed-size backbone's bit for bit; building one takes seconds, once
    per search instead of once per side)."""
    return fomo_ad.backbone_model(replace(base, shape=[None, None]), search_layers(base))


def _validation_maps(maps: dict, backbone, validation: ValidationSet, is_user: np.ndarray,
                     fit_idx: np.ndarray, synthetic_owner: np.ndarray, progress: Progress) -> list[np.ndarray]:
    """The validation set's maps in its order (held-back normals, their synthetic defects, the
    user's images): the first two are rows of the maps already extracted; only the user's
    images go through the backbone."""
    held = np.setdiff1d(np.arange(len(maps["normal"][0])), fit_idx)
    held_synthetic = np.isin(synthetic_owner, held)
    user = _extract(backbone, validation.images[is_user], progress, "search: features of --val images") \
        if is_user.any() else [m[:0] for m in maps["normal"]]
    out = [np.concatenate([n[held], s[held_synthetic], u])
           for n, s, u in zip(maps["normal"], maps["synthetic"], user)]
    if len(out[0]) != len(validation):
        raise ValueError(f"validation set of {len(validation)} images, {len(out[0])} feature maps")
    return out


def _extract(model, images: np.ndarray, progress: Progress, what: str, batch: int = 32) -> list[np.ndarray]:
    outs: list[list[np.ndarray]] = []
    for start in range(0, len(images), batch):
        got = model(images[start:start + batch].astype(np.float32), training=False)
        got = got if isinstance(got, (list, tuple)) else [got]
        if not outs:
            outs = [[] for _ in got]
        for acc, t in zip(outs, got):
            acc.append(np.asarray(t, np.float32))
        progress(what, min(start + batch, len(images)), len(images))
    return [np.concatenate(a) for a in outs]


def _apply(model, maps: list[np.ndarray], batch: int = 64) -> np.ndarray:
    return np.concatenate([np.asarray(model([m[s:s + batch] for m in maps], training=False))
                           for s in range(0, len(maps[0]), batch)])


def input_sides(size: int, stride: int) -> list[int]:
    """The shorter input sides the search tries for a recipe of this size, largest first."""
    return sorted({geometry.round_side(size * f, stride) for f in SIDE_FACTORS}, reverse=True)


def chosen_key(result: SearchResult) -> float:
    """The validation AUROC (rank key) of a search's chosen candidate."""
    return next(r["rank_key"] for r in result.table if r.get("chosen"))


def choose_side(results: list[SearchResult], prefer: list[int] | None = None) -> int:
    """Which of several searches wins (one per input side, largest first; or one per board
    base): the best chosen candidate's validation AUROC; near-ties to the lowest ``prefer``
    (a board's bases: their place in the board's options, most accurate first, as each fits
    the latency budget already), without it to the last (the smaller input, fewer
    instructions per image)."""
    keys = [chosen_key(res) for res in results]
    best = max(keys)
    near = [i for i, k in enumerate(keys) if k >= best - TIE]
    if prefer is None:
        return max(near)
    return min(near, key=lambda i: (prefer[i], -keys[i]))


def merge_tables(searched: list[tuple], chosen: SearchResult, labels: list[str] | None = None) -> list[dict]:
    """One table of every (input geometry, search result): rows named with their input (e.g.
    "s8 pool 7/2 knn max @ 160x128", width x height; with labels, the label after it, e.g.
    the backbone of a board base), only ``chosen``'s pick marked."""
    rows = []
    for n, (shape, result) in enumerate(searched):
        label = f", {labels[n]}" if labels else ""
        for row in result.table:
            row = dict(row, candidate=f"{row['candidate']} @ {shape.width}x{shape.height}{label}",
                       input=[shape.height, shape.width])
            if result is not chosen:
                row.pop("chosen", None)
            rows.append(row)
    return rows


def output_stride(base: fomo_ad.FomoAdRecipe) -> int:
    """Input pixels per cell that every candidate's grid divides: the input shape's step."""
    return max(fomo_ad.output_stride(c.recipe(base)) for c in candidates(base))


def ranked_images(n: int, holdout: np.ndarray, seed: int = 0) -> np.ndarray:
    """Which of n normal images the ranking scores: all up to RANKED_IMAGES, else the held-back
    ones (their defects also set the threshold) and a seeded random choice of the others."""
    if n <= RANKED_IMAGES:
        return np.arange(n)
    others = np.setdiff1d(np.arange(n), holdout)
    extra = np.random.default_rng(seed + 2).choice(others, max(0, RANKED_IMAGES - len(holdout)), replace=False)
    return np.sort(np.concatenate([holdout, extra]))
