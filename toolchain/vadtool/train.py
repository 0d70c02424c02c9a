"""Training stage: a dataset in, a run directory out (model.keras, head, manifest).

The run is built in a temporary folder beside --out and renamed at the end, so a failed
or interrupted training leaves no half-written run behind.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
import numpy as np

from . import data as datasets
from . import geometry, validation
from .errors import DatasetError, ModelError, naming_disk_full
from .locking import writing
from .models import classifier, fomo_ad
from .progress import Progress, quiet
from .rundir import MANIFEST, Run, check_out, publish_mode


@contextmanager
def staged_run(out: Path, kind: str, **fields):
    out = Path(out)
    check_out(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        with naming_disk_full(out):
            run = Run.create(tmp, kind, **fields)
            yield run
            run.save()
        publish_mode(tmp, directory=True)
        if out.exists():
            out.rmdir()
        tmp.rename(out)
        run.path = out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def extract(model, images: np.ndarray, progress: Progress, what: str, batch: int = 32) -> np.ndarray:
    """Run a Keras model over uint8 images in batches, reporting progress."""
    outs = []
    for start in range(0, len(images), batch):
        chunk = images[start:start + batch].astype(np.float32)
        outs.append(np.asarray(model(chunk, training=False)))
        progress(what, min(start + batch, len(images)), len(images))
    return np.concatenate(outs) if outs else np.zeros((0,) + tuple(model.output.shape[1:]), np.float32)


def _save_keras(model, path: Path) -> None:
    named = path.with_suffix(".keras")  # Keras insists on the extension
    model.save(named)
    named.replace(path)


def _load(samples, shape: geometry.InputGeometry, progress: Progress, what: str) -> np.ndarray:
    return datasets.load_images(samples, shape.shape_hw, shape.resize,
                                progress=lambda d, t: progress(what, d, t))



def _weights_field(spec) -> str:
    """The weights actually loaded (the spec may say "imagenet" while $VADTOOL_WEIGHTS wins)."""
    from .models.backbone import resolve_weights
    resolved = resolve_weights(spec)
    return resolved if resolved == "imagenet" else str(Path(resolved).resolve())


def data_fields(ds) -> dict:
    return {"root": str(ds.root.resolve()), "layout": ds.layout, "counts": ds.counts()}


def relative_paths(ds, samples) -> list[str]:
    return [str(s.path.relative_to(ds.root)) for s in samples]


def train_fomo_ad(data_root: Path, out: Path, recipe: fomo_ad.FomoAdRecipe, **options) -> Run:
    """Train a FOMO-AD run into out (see _train_fomo_ad for the options), holding out's
    write lock from start to end: a second command writing out fails at once as busy."""
    with writing(out, "train fomo-ad"):
        return _train_fomo_ad(data_root, out, recipe, **options)


def _train_fomo_ad(data_root: Path, out: Path, recipe: fomo_ad.FomoAdRecipe,
                   threshold: float | None = None, progress: Progress = quiet, search: bool = False,
                   val_dir: Path | None = None, budget=None, seed: int = 0, board: str | None = None,
                   fixed_bank: bool = False, fixed_size: bool = False,
                   max_instructions: int | None = None) -> Run:
    """Train a FOMO-AD run. With search (the CLI's default), the recipe's layers, pooling, density
    and image score are chosen on the validation set (search.py), and so is the input size
    (search.input_sides) unless it is the user's or a board's; budget(recipe, density)
    -> None or why it does not fit limits the candidates. board: the recipe starts from what
    fits that board and the search keeps to it (board_fit.py; fixed_bank / fixed_size: the
    recipe's knn bank / input size are the user's); ModelError before any image is loaded
    when nothing fits."""
    from . import search as recipe_search
    started = time.perf_counter()
    check_out(out)
    ds = datasets.discover(data_root)
    normals = [s for s in ds.split("train") if s.label == 0]
    user_val = validation.user_folder(val_dir) if val_dir is not None else None
    board_base = None
    if board is not None:
        from dataclasses import replace as with_fields

        from . import board_fit
        from .boards import get_board
        board = get_board(board)
        if max_instructions is not None:
            board = with_fields(board, max_instructions=max_instructions or None)
        board_bases = board_fit.choose_bases(board, recipe, [s.path for s in normals], search,
                                             fixed_bank=fixed_bank, fixed_size=fixed_size, progress=progress)
        board_base = board_bases[0]
        recipe, budget = board_base.recipe, board_fit.Budget(board, fixed_bank)
    fit_idx, hold_idx = fomo_ad.split_holdout(len(normals), recipe.holdout, seed)
    # the searches: one per input side (no board, no size given), one per board base, or one
    starts, labels = [recipe], [""]
    order = [0]  # each start's place in choose_bases' list (the board's order)
    if search and board is None and not fixed_size and not recipe.shape:
        sides = recipe_search.input_sides(recipe.size, recipe_search.output_stride(recipe))
        starts = [replace(recipe, size=side, shape=None) for side in sides]
        labels = [f" ({side} px)" for side in sides] if len(sides) > 1 else [""]
    elif search and board is not None and len(board_bases) > 1:
        # the largest input first: the synthetic defects are painted there and rescaled to the others
        order = sorted(range(len(board_bases)), key=lambda i: -np.prod(board_bases[i].recipe.shape))
        board_bases = [board_bases[i] for i in order]
        starts = [b.recipe for b in board_bases]
        labels = [f" ({b.option.name})" for b in board_bases]
    tried = []  # (prepared inputs, search result) per start
    shared_backbone = recipe_search.search_backbone(recipe) if search and board is None and len(starts) > 1 else None
    painted = None  # (synthetic anomalies, the images they were painted on) at the largest input
    for start, label in zip(starts, labels):
        stride = recipe_search.output_stride(start) if search else fomo_ad.output_stride(start)
        prepared = _prepare(start, stride, normals, fit_idx, hold_idx, user_val, val_dir, search, seed,
                            progress, label, painted)
        recipe_s, _, images_s, val_s, synthetic_s = prepared
        painted = painted or (synthetic_s, images_s)
        if search and not (val_s.labels.any() and (val_s.labels == 0).any()):
            search = False  # too few images to hold any back: the recipe as given
        if not search:
            tried = [(prepared, None)]
            break
        tried.append((prepared, recipe_search.run(
            recipe_s, images_s, fit_idx, synthetic_s.images, synthetic_s.owner, val_s, budget=budget,
            seed=seed, progress=lambda what, done, total, label=label: progress(what + label, done, total),
            backbone=shared_backbone, synthetic_families=synthetic_s.defects,
            synthetic_faint=synthetic_s.faint)))
    compared = None  # the board bases' chosen candidates, when there were several
    if search and board is not None and len(tried) > 1:
        estimates = [budget.cost(r.recipe, r.density).instructions for _, r in tried]
        # a near-tie keeps the board's order (the wider backbone first): validation overrules
        # it only when it clearly disagrees; every base is within the latency budget
        pick = recipe_search.choose_side([r for _, r in tried], prefer=order)
        compared = [{"option": b.option.name, "input": [p[1].height, p[1].width],
                     "candidate": next(row["candidate"] for row in r.table if row.get("chosen")),
                     "val_auroc": round(recipe_search.chosen_key(r), 4), "instructions": int(e),
                     "board_order": order[n], "chosen": n == pick}
                    for n, (b, (p, r), e) in enumerate(zip(board_bases, tried, estimates))]
    else:
        pick = recipe_search.choose_side([r for _, r in tried]) if search else 0
    if board is not None:
        board_base = board_bases[pick]  # the base of the recipe trained (starts[pick])
    (recipe, shape, images, val, _), searched = tried[pick]
    if search and len(tried) > 1:
        searched.table = recipe_search.merge_tables(
            [(p[1], r) for p, r in tried], searched,
            [f"MobileNetV2 {b.option.alpha}" for b in board_bases] if compared else None)
        searched.seconds = round(sum(r.seconds for _, r in tried), 2)
    if search:
        recipe = budget.settle(searched.recipe) if board is not None else searched.recipe
        network = fomo_ad.build_network(recipe)
        if searched.projection is not None:  # a knn pca candidate: the device computes the components
            from .models import projection
            network = projection.fold_into_network(network, *searched.projection)
        fit_features = searched.fit_features
        density, auto_threshold, threshold_source = searched.density, searched.threshold, searched.threshold_source
        val_cells = searched.validation_cells
    else:
        network = fomo_ad.build_network(recipe)
        fit_features = extract(network, images[fit_idx], progress, "extract features")
        val_features = extract(network, val.images, progress, "extract validation features")
        if recipe.project:  # fitted on the fit split only, then part of the network
            from .models import projection
            matrix, bias = projection.fit_projection(fit_features, recipe.project)
            network = projection.fold_into_network(network, matrix, bias)
            fit_features = projection.project(fit_features, matrix, bias)
            val_features = projection.project(val_features, matrix, bias)
        progress("fit density", 0, 1)
        density, auto_threshold, threshold_source, val_cells = fomo_ad.fit_head(
            recipe, fit_features, val_features, val.labels)
        progress("fit density", 1, 1)
    grid = list(network.output.shape[1:3])
    with staged_run(out, "fomo-ad", recipe=recipe.to_json(), data=data_fields(ds)) as run:
        run.manifest.update({
            "input": shape.to_json(),
            "output": {"grid": grid, "channels": int(network.output.shape[-1])},
            "weights_loaded": _weights_field(recipe.backbone),
            "threshold": float(threshold) if threshold is not None else auto_threshold,
            "threshold_source": "--threshold" if threshold is not None else threshold_source,
            "holdout_images": relative_paths(ds, [normals[i] for i in hold_idx]),
            "train_images": relative_paths(ds, [normals[i] for i in fit_idx]),
            "validation": {**val.counts(), "seed": seed,
                           "user_folder": str(Path(val_dir).resolve()) if val_dir else None},
            "head_params": density.n_params,
        })
        if searched is not None:
            run.manifest["search"] = {"chosen": next(r["candidate"] for r in searched.table if r.get("chosen")),
                                      "ranked_by": f"{recipe_search.RULE_TEXT[recipe_search.RULE]}, {recipe_search.FOLDS}-fold cross-fitted on the normal training images and synthetic anomalies painted on them (and the --val images)",
                                      "rule": recipe_search.RULE,
                                      "seconds": searched.seconds, "candidates": searched.table}
        if board_base is not None:
            run.manifest["board"] = _board_fields(board, board_base, recipe, density)
            if compared:
                run.manifest["board"]["compared"] = compared
                # every option passed over, before any of the compared bases
                run.manifest["board"]["not_fitting"] = [
                    {"option": o, "reason": r} for o, r in max((b.tried for b in board_bases), key=len)]
        run.add_file("model.keras", lambda p: _save_keras(network, p))
        run.add_file("head.npz", density.save)
        if len(val):  # quantize sets the int8 threshold on the same images
            run.add_file(validation.VALIDATION_FILE, val.save)
            held = np.array([s == "holdout" for s in val.sources])
            # what quantize compares the int8 head's scores with
            run.add_file(fomo_ad.HOLDOUT_CELLS, lambda p: _save_array(p, val_cells[held]))
        run.manifest["train_seconds"] = round(time.perf_counter() - started, 2)
    return run


def _prepare(recipe, stride, normals, fit_idx, hold_idx, user_val, val_dir, search: bool, seed: int,
             progress: Progress, label: str = "", painted=None):
    """The recipe with its input shape fixed, the geometry, the normal images at that shape,
    the validation set and the synthetic anomalies (on the images the search ranks; only the
    held-back ones' go into the validation set). painted: (synthetic, images) at a larger
    shape, whose defects are rescaled to this one rather than painted again."""
    from . import search as recipe_search
    recipe, shape = geometry.resolve_recipe(recipe, stride, [s.path for s in normals])
    images = _load(normals, shape, progress, "load train images" + label)
    progress("make validation set" + label, 0, 1)
    if painted is not None:
        synthetic = validation.rescaled(painted[0], painted[1], images)
        held_synthetic = synthetic.subset(hold_idx)
    elif search:  # defects on the images the ranking scores (the held-back ones among them)
        ranked = recipe_search.ranked_images(len(images), hold_idx, seed)
        synthetic = validation.synthetic_anomalies(images[ranked], seed)
        synthetic.owner = ranked[synthetic.owner]
        held_synthetic = synthetic.subset(hold_idx)
    else:
        synthetic = held_synthetic = validation.synthetic_anomalies(images[hold_idx], seed)
    val = validation.build(images[hold_idx], held_synthetic, user_val,
                           load=lambda p, m: (datasets.load_image(p, shape.shape_hw, shape.resize),
                                              datasets.load_mask(m, shape.shape_hw, shape.resize)),
                           user_root=val_dir)
    progress("make validation set" + label, 1, 1)
    return recipe, shape, images, val, synthetic


def _board_fields(board, base, recipe, density) -> dict:
    """What the run says of its board: the base it started from, what did not fit before it,
    and the chosen recipe's estimated cost there."""
    from . import board_fit
    return {"name": board.name, "max_instructions": board.max_instructions,
            "base": base.option.name if base.option else "the given recipe",
            "not_fitting": [{"option": o, "reason": r} for o, r in base.tried],
            "estimate": board_fit.recipe_cost(recipe, density, board).to_json()}


def train_classifier(data_root: Path, out: Path, recipe: classifier.ClassifierRecipe,
                     threshold: float | None = None, progress: Progress = quiet) -> Run:
    """Train the supervised baseline into out, holding out's write lock from start to end."""
    with writing(out, "train classifier"):
        return _train_classifier(data_root, out, recipe, threshold, progress)


def _train_classifier(data_root: Path, out: Path, recipe: classifier.ClassifierRecipe,
                      threshold: float | None, progress: Progress) -> Run:
    started = time.perf_counter()
    check_out(out)
    ds = datasets.discover(data_root)
    normals = [s for s in ds.split("train") if s.label == 0]
    anomalies = [s for s in ds.samples if s.label == 1 and s.split == "train"]
    if not anomalies:  # MVTec-style: anomalies only under test/, take a stated share of them
        pool = [s for s in ds.split("test") if s.label == 1]
        picked = classifier.choose_training_anomalies([s.defect for s in pool],
                                                      recipe.anomaly_share, recipe.seed)
        anomalies = [pool[i] for i in picked]
    if not anomalies:
        raise DatasetError(f"{ds.root}: the classifier needs anomalous images and found none; "
                           "add a test/<defect> folder (MVTec) or an anomaly/ folder (plain)")
    samples = normals + anomalies
    labels = np.array([0] * len(normals) + [1] * len(anomalies))
    recipe, shape = geometry.resolve_recipe(recipe, classifier.output_stride(recipe), [s.path for s in normals])
    features_model, full = classifier.build_network(recipe)
    images = _load(samples, shape, progress, "load train images")
    features = extract(features_model, images, progress, "extract features")
    progress("train head", 0, 1)
    fit_stats = classifier.train_head(full, features, labels, recipe)
    progress("train head", 1, 1)
    with staged_run(out, "classifier", recipe=recipe.to_json(), data=data_fields(ds)) as run:
        run.manifest.update({
            "input": shape.to_json(),
            "output": {"classes": ["normal", "anomalous"]},
            "weights_loaded": _weights_field(recipe.backbone),
            "threshold": float(threshold) if threshold is not None else 0.5,
            "threshold_source": "--threshold" if threshold is not None else "default 0.5",
            "train_images": relative_paths(ds, samples),
            "fit": fit_stats,
        })
        run.add_file("model.keras", lambda p: _save_keras(full, p))
        run.manifest["train_seconds"] = round(time.perf_counter() - started, 2)
    return run


def _save_array(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as f:  # np.save on a name would append ".npy" to the temporary one
        np.save(f, np.asarray(array, np.float32))
