"""The report stage: a run directory in, one static HTML page and its PNG files out.

What the page shows comes from what the run holds: the manifest (data, options, sizes,
hashes), the stored evaluations (RUN/evaluations/<runtime>.json, written by `vadtool
evaluate` and `vadtool bench`), and, for runtimes asked for that have none stored, an
evaluation made here. The page needs no server and no network: index.html, report.json
and PNG files, all referenced by relative paths.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from .. import data as datasets
from .. import metrics
from ..errors import VadError
from ..geometry import InputGeometry
from ..rundir import Run, write_bytes, write_json
from ..runners import RUNTIMES
from . import overlay, plots

ORDER = ("float", "litert", "tflm", "native", "device")  # table order
CLOSEST_TO_DEVICE = ("device", "native", "tflm", "litert", "float")  # default for plots, gallery
GALLERY = 24
THUMB = 256
BATCH = 16
_GALLERY_FILE = re.compile(r"^\d{3}_(image|heatmap|truth|predicted)\.png$")


def _quiet(what: str, done: int, total: int) -> None:
    pass


class ReportError(VadError):
    """The report cannot be made from what the run holds."""


def stored_evaluations(run_dir: Path) -> dict[str, dict]:
    """RUN/evaluations/<runtime>.json by runtime; unreadable files are skipped."""
    out = {}
    for path in sorted((Path(run_dir) / "evaluations").glob("*.json")):
        try:
            result = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError, UnicodeDecodeError):
            continue
        if isinstance(result, dict) and "image_auroc" in result:
            out[result.get("runtime", path.stem)] = {**result, "source": f"evaluations/{path.name}"}
    return out


def _about(result: dict, root: Path, explicit_data: bool) -> bool:
    """Whether a stored evaluation was made on the dataset under root."""
    paths = (result.get("scores") or {}).get("paths")
    if not paths:
        return not explicit_data
    root = root.resolve()
    return all(Path(p).resolve().is_relative_to(root) for p in paths)


def gather(run: Run, data: Path | None, runtimes: list[str] | None,
           progress=_quiet) -> tuple[dict[str, dict], str, dict]:
    """(evaluations by runtime in table order, the runtime the plots and the gallery show,
    predictors made on the way by runtime)."""
    from ..evaluate import evaluate
    from ..predict import Predictor
    root = Path(data) if data is not None else Path(run.manifest["data"]["root"])
    evaluations = {rt: r for rt, r in stored_evaluations(run.path).items()
                   if _about(r, root, data is not None)}
    with_scores = [rt for rt in CLOSEST_TO_DEVICE + tuple(evaluations)
                   if rt in evaluations and evaluations[rt].get("scores")]
    wanted = list(dict.fromkeys(runtimes or [])) or ([] if with_scores else ["float"])
    # by default the fullest evaluation (a device evaluation often has --limit), closest to the device
    most = max((evaluations[rt].get("n_images") or 0 for rt in with_scores), default=0)
    primary = wanted[0] if wanted else next(rt for rt in with_scores
                                            if (evaluations[rt].get("n_images") or 0) == most)
    predictors = {}
    for rt in wanted:
        if rt in evaluations and (rt != primary or evaluations[rt].get("scores")):
            continue
        if rt not in RUNTIMES:
            raise ReportError(f"{run.path}: no stored {rt} evaluation (evaluations/{rt}.json) on "
                              f"{root}; make one with `vadtool bench` on the device first")
        predictors[rt] = Predictor(run, rt)
        result = evaluate(run.path, data, rt, runner=predictors[rt].runner, progress=progress,
                          keep_scores=True)
        evaluations[rt] = {**result, "source": "evaluated for this report"}
    if not evaluations[primary].get("scores"):
        raise ReportError(f"{run.path}: the stored {primary} evaluation has no per-image scores; "
                          f"re-run `vadtool evaluate {run.path} --runtime {primary}`")
    ordered = {rt: evaluations[rt] for rt in ORDER + tuple(evaluations) if rt in evaluations}
    return ordered, primary, predictors


def worst_first(labels, scores, threshold: float) -> np.ndarray:
    """Indices, the wrong ones first, from the most wrong (measured from the threshold:
    anomalies with the lowest scores, normals with the highest); then the right ones, the
    closest calls first, normal and anomalous alternating (the two classes' scores lie on
    very different scales, so one ordering of both would show one class only)."""
    labels = np.asarray(labels).astype(bool)
    scores = np.asarray(scores, np.float64)
    margin = np.where(labels, scores - threshold, threshold - scores)
    order = np.argsort(margin, kind="stable")
    wrong = [int(i) for i in order if margin[i] < 0 or (labels[i] and margin[i] == 0)]
    right_normal = [int(i) for i in order if not labels[i] and margin[i] >= 0]
    right_anomalous = [int(i) for i in order if labels[i] and margin[i] > 0]
    right = []
    for k in range(max(len(right_normal), len(right_anomalous))):
        right += right_anomalous[k:k + 1] + right_normal[k:k + 1]
    return np.array(wrong + right, dtype=int)


def _bytes(n) -> str | None:
    if n is None:
        return None
    return f"{n / 1024:,.1f} KiB ({n:,} B)"


def _file_bytes(run: Run, *names: str) -> int | None:
    sizes = [(run.path / n).stat().st_size for n in names if (run.path / n).is_file()]
    return sum(sizes) if sizes else None


def table_row(run: Run, result: dict) -> dict:
    """One metrics row: numbers as they are, and text for the page."""
    rt = result["runtime"]
    m = run.manifest
    fomo = run.kind == "fomo-ad"
    if rt == "float":
        model = _file_bytes(run, "model.keras", *(["head.npz"] if fomo else []))
        model_note = "Keras file" + (" + head" if fomo else "")
    else:
        model = (m.get("quantization") or {}).get("model_bytes")
        model_note = "int8 .tflite"
    ram, ram_note = None, None
    if rt == "device":
        ram, ram_note = result.get("ram_bytes"), "firmware RAM"
        if ram is None and result.get("arena_bytes") is not None:
            ram, ram_note = result["arena_bytes"], "arena"
    elif result.get("arena_bytes") is not None:
        ram, ram_note = result["arena_bytes"], "arena"
    elif rt == "tflm" and m.get("tflm_arena_bytes") is not None:
        ram, ram_note = m["tflm_arena_bytes"], "TFLM arena"
    if rt == "device" and result.get("ms_per_inference_at_clock") is not None:
        clock = result.get("clock_hz")
        latency = f"{result['ms_per_inference_at_clock']:.1f} ms at {clock / 1e6:g} MHz" if clock else \
            f"{result['ms_per_inference_at_clock']:.1f} ms"
        if result.get("instructions_per_inference") is not None:
            latency += f" ({result['instructions_per_inference']:,} instructions, QEMU)"
        elif result.get("cycles_per_inference") is not None:
            latency += f" ({result['cycles_per_inference']:,} cycles)"
    elif result.get("ms_per_image") is not None:
        latency = f"{result['ms_per_image']:.1f} ms/image (host)"
    else:
        latency = None
    row = {
        "runtime": rt, "board": result.get("board"), "n_images": result.get("n_images"),
        "n_anomalous": result.get("n_anomalous"),
        "image_auroc": result.get("image_auroc"), "image_f1": result.get("image_f1"),
        "best_f1": result.get("best_f1"), "cell_auroc": result.get("cell_auroc"),
        "pixel_auroc": result.get("pixel_auroc"), "threshold": result.get("threshold"),
        "model_bytes": model, "ram_bytes": ram, "flash_bytes": result.get("flash_bytes"),
        "latency": latency, "mismatches": result.get("mismatches"), "source": result.get("source"),
    }
    text = {k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in row.items()}
    text["threshold"] = f"{row['threshold']:.4g}" if row["threshold"] is not None else None
    text["image_f1"] = f"{row['image_f1']:.3f}" if row["image_f1"] is not None else None
    text["best_f1"] = f"{row['best_f1']:.3f}" if row["best_f1"] is not None else None
    text["model"] = f"{_bytes(model)}, {model_note}" if model is not None else None
    text["ram"] = f"{_bytes(ram)}, {ram_note}" if ram is not None else None
    text["flash"] = _bytes(row["flash_bytes"])
    return {"raw": row, "text": {k: ("–" if v is None else str(v)) for k, v in text.items()}}


def manifest_summary(run: Run) -> tuple[list[tuple[str, str]], dict]:
    """(key facts as (name, text) pairs, the manifest with its long image lists counted)."""
    m = run.manifest
    short = {k: (f"<{len(v)} images>" if k.endswith("_images") and isinstance(v, list) else v)
             for k, v in m.items()}
    d = m.get("data", {})
    counts = "; ".join(f"{split}: " + ", ".join(f"{k} {n}" for k, n in per.items())
                       for split, per in d.get("counts", {}).items())
    facts = [("model", m.get("kind", "?")), ("data", f"{d.get('root')} ({d.get('layout')} layout)"),
             ("images", counts), ("input", f"{InputGeometry.from_manifest(m)}, {m['input'].get('pixels', '')}")]
    if "grid" in m.get("output", {}):
        facts.append(("cell grid", "x".join(str(g) for g in m["output"]["grid"])))
    facts.append(("threshold", f"{m.get('threshold'):.4g} ({m.get('threshold_source', '')})"))
    if m.get("threshold_int8") is not None:
        facts.append(("int8 threshold", f"{m['threshold_int8']:.4g}"))
    recipe = dict(m.get("recipe", {}))
    backbone = recipe.pop("backbone", {})
    facts.append(("backbone", ", ".join(f"{k} {v}" for k, v in backbone.items())))
    facts.append(("options", ", ".join(f"{k} {v}" for k, v in recipe.items())))
    if m.get("weights_loaded"):
        facts.append(("weights", str(m["weights_loaded"])))
    q = m.get("quantization")
    if q:
        facts.append(("quantization", f"{q.get('calibration')}, int8 model {q.get('model_bytes', 0):,} B"
                      + "".join(f", {k.replace('_', ' ')} {v:.3f}" for k, v in q.items()
                                if k.endswith("correlation"))))
    if m.get("train_seconds") is not None:
        facts.append(("training", f"{m['train_seconds']:.1f} s"))
    facts.append(("vadtool", f"{m.get('vadtool_version')} (run format {m.get('format')})"))
    return facts, short


def _gallery(run: Run, out: Path, result: dict, primary: str, predictors: dict, data: Path | None,
             n: int, max_side: int, progress) -> tuple[list[dict], str | None]:
    """Write the gallery panels; return (items, the runtime the heatmaps come from)."""
    from ..predict import Predictor
    folder = out / "gallery"
    if folder.is_dir():
        for old in folder.iterdir():
            if _GALLERY_FILE.match(old.name):
                old.unlink()
    s = result["scores"]
    paths = [Path(p) for p in s["paths"]]
    labels = np.asarray(s["labels"]).astype(int)
    scores = np.asarray(s["image_scores"], np.float64)
    threshold = float(result["threshold"])
    picked = worst_first(labels, scores, threshold)[:max(0, n)]
    if not len(picked):
        return [], None
    root = Path(data) if data is not None else Path(run.manifest["data"]["root"])
    try:
        samples = {smp.path.resolve(): smp for smp in datasets.discover(root).samples}
    except VadError:
        samples = {}
    cells, heat_runtime, heat_threshold = [None] * len(picked), None, threshold
    geometry = InputGeometry.from_manifest(run.manifest)
    if run.kind == "fomo-ad":
        heat_runtime = primary if primary in RUNTIMES else ("tflm" if run.has("model_int8.tflite") else "float")
        predictor = predictors.get(heat_runtime) or Predictor(run, heat_runtime)
        heat_threshold = float(predictor.threshold)
        cells = []
        for start in range(0, len(picked), BATCH):
            chunk = [paths[i] for i in picked[start:start + BATCH]]
            images = predictor.load(chunk)
            cells.extend(predictor.predict(images).cell_scores)
            progress("gallery heatmaps", start + len(chunk), len(picked))
    items = []
    for rank, (i, c) in enumerate(zip(picked, cells)):
        path = paths[i]
        sample = samples.get(path.resolve())
        shape = overlay.thumb_shape(path, max_side)
        image = datasets.load_image(path, shape)
        mask = datasets.load_mask(sample.mask, shape) if sample is not None and sample.mask else None
        files = {}
        for name, panel in overlay.panels(image, c, heat_threshold, mask, geometry).items():
            rel = f"gallery/{rank:03d}_{name}.png"
            write_bytes(out / rel, overlay.png_bytes(panel))
            files[name] = rel
        try:
            shown = str(path.resolve().relative_to(root.resolve()))
        except ValueError:
            shown = str(path)
        anomalous = bool(scores[i] > threshold)
        items.append({"rank": rank + 1, "path": str(path), "name": shown,
                      "label": "anomalous" if labels[i] else "normal",
                      "defect": sample.defect if sample is not None else None,
                      "score": float(scores[i]), "score_text": f"{scores[i]:.4g}",
                      "predicted": "anomalous" if anomalous else "normal",
                      "wrong": anomalous != bool(labels[i]),
                      "margin_text": f"{scores[i] - threshold:+.4g}", "panels": files,
                      "width": int(image.shape[1])})
        progress("gallery images", rank + 1, len(picked))
    return items, heat_runtime


def search_rows(manifest: dict) -> dict | None:
    """The recipe search's candidates, best validation AUROC first, for the report."""
    search = manifest.get("search")
    if not search:
        return None
    rows = sorted(search["candidates"], key=lambda r: -r["rank_key"])
    def text(v):
        return "–" if v is None else f"{v:.3f}"
    return {"ranked_by": search["ranked_by"], "seconds": search["seconds"], "chosen": search["chosen"],
            "rows": [{"candidate": r["candidate"], "chosen": bool(r.get("chosen")),
                      "grid": "x".join(map(str, r["grid"])), "channels": r["channels"],
                      "head_params": f"{r['head_params']:,}", "synthetic": text(r.get("val_auroc_synthetic")),
                      "user": text(r.get("val_auroc_user")), "excluded": r.get("excluded", "")}
                     for r in rows]}


def build_report(run_dir: Path, out_dir: Path, data: Path | None = None,
                 runtimes: list[str] | None = None, gallery: int = GALLERY,
                 max_side: int = THUMB, progress=_quiet) -> Path:
    """Write OUT/index.html (with report.json and PNGs beside it); return its path.

    runtimes: the runtimes to show besides the stored evaluations (evaluated here when none
    is stored); the first one is the one the plots and the gallery show. Without runtimes,
    the stored evaluations are shown (float is evaluated when there are none), the plots
    and the gallery from the one on the most images, the closest to the device among them.
    """
    from .html import render
    run = Run.open(run_dir)
    out = Path(out_dir)
    if out.resolve() == run.path.resolve():
        raise ReportError(f"{out}: is the run directory itself; give the report its own --out folder")
    if out.exists() and not out.is_dir():
        raise ReportError(f"{out}: exists and is not a folder; give another --out")
    evaluations, primary, predictors = gather(run, data, runtimes, progress)
    rows = [table_row(run, r) for r in evaluations.values()]
    curves = {rt: (r["scores"]["labels"], r["scores"]["image_scores"])
              for rt, r in evaluations.items() if r.get("scores")}
    main = evaluations[primary]
    labels, scores = curves[primary]
    figures = {
        "roc": plots.roc_plot(curves), "pr": plots.pr_plot(curves),
        "histogram": plots.histogram_plot(labels, scores, main["threshold"], primary),
        "confusion": plots.confusion_plot(main["confusion"], primary),
    }
    for name, png in figures.items():
        write_bytes(out / f"{name}.png", png)
    progress("report plots", 1, 1)
    items, heat_runtime = _gallery(run, out, main, primary, predictors, data, gallery, max_side, progress)
    facts, manifest = manifest_summary(run)
    context = {
        "title": f"vadtool report: {run.path.name}", "run": str(run.path), "kind": run.kind,
        "data": str(data) if data is not None else run.manifest["data"]["root"],
        "primary": primary, "rows": rows, "facts": facts,
        "manifest_json": json.dumps(manifest, indent=2),
        "files": sorted(run.manifest.get("files", {}).items()),
        "confusion": main["confusion"], "threshold_text": f"{main['threshold']:.4g}",
        "gallery": items, "heat_runtime": heat_runtime, "n_gallery_asked": gallery,
        "n_test": main.get("n_images"), "has_truth": any("truth" in it["panels"] for it in items),
        "has_heat": heat_runtime is not None,
        "average_precision": metrics.average_precision(labels, scores),
        "search": search_rows(run.manifest),
    }
    write_json(out / "report.json", {
        "run": str(run.path), "kind": run.kind, "primary": primary,
        "rows": [r["raw"] for r in rows],
        "gallery": [{k: v for k, v in it.items() if k not in ("score_text", "margin_text")}
                    for it in items],
        "heat_runtime": heat_runtime,
    })
    index = out / "index.html"
    write_bytes(index, render(context).encode())
    return index
