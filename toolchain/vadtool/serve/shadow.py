"""`vadtool shadow report`: how a challenger did beside the champion, from the store alone.

Per pair of models (champion hash, challenger hash) that served together: how often their
decisions agree, how their scores correlate, every image where they disagree (both overlays
side by side), and each model's AUROC and F1 on the images an operator labelled.
"""

from __future__ import annotations

import html
import os
import secrets
import shutil
from pathlib import Path

import numpy as np
from scipy import stats

from .. import metrics
from ..rundir import publish_mode, write_json
from .served import overlay_png
from .store import Store, StoreError


def pair_summaries(records: list[dict]) -> list[dict]:
    """One summary per (champion, challenger) pair, the most recently served first."""
    pairs: dict[tuple, list[dict]] = {}
    for r in records:  # newest first
        p = r["predictions"]
        if "champion" in p and "challenger" in p:
            key = tuple(p[role][k] for role in ("champion", "challenger") for k in ("model_hash", "head_hash"))
            pairs.setdefault(key, []).append(r)
    return [_summary(rs) for rs in pairs.values()]


def _summary(records: list[dict]) -> dict:
    champ = [r["predictions"]["champion"] for r in records]
    chall = [r["predictions"]["challenger"] for r in records]
    agree = [a["anomalous"] == b["anomalous"] for a, b in zip(champ, chall)]
    s1 = np.array([p["score"] for p in champ])
    s2 = np.array([p["score"] for p in chall])
    varied = len(records) > 2 and s1.std() > 0 and s2.std() > 0
    keys = ("run", "model_hash", "head_hash", "runtime", "threshold")
    out = {"champion": {k: champ[0][k] for k in keys}, "challenger": {k: chall[0][k] for k in keys},
           "images": len(records), "agreement": float(np.mean(agree)),
           "disagreements": [r["id"] for r, a in zip(records, agree) if not a],
           "pearson": float(stats.pearsonr(s1, s2)[0]) if varied else None,
           "spearman": float(stats.spearmanr(s1, s2)[0]) if varied else None,
           "labelled": {}}
    labelled = [(r["label"] == "anomalous", r["predictions"]) for r in records if r["label"] is not None]
    out["n_labelled"] = len(labelled)
    for role in ("champion", "challenger"):
        if not labelled:
            break
        y = [lab for lab, _ in labelled]
        scores = [p[role]["score"] for _, p in labelled]
        threshold = out[role]["threshold"]
        out["labelled"][role] = {"auroc": metrics.auroc(y, scores), "f1": metrics.f1_at(y, scores, threshold),
                                 **metrics.confusion(y, scores, threshold)}
    return out


def build_report(store_dir: Path, out: Path) -> Path:
    """Write OUT/index.html (and report.json, overlays/) for the store; built in a folder beside
    OUT and renamed into place. Returns the page's path."""
    store = Store(store_dir, create=False)
    try:
        records = store.all()
        summaries = pair_summaries(records)
        if not summaries:
            raise StoreError(f"{store_dir}: no image was scored by a champion and a challenger; "
                             "serve with --challenger RUN2 first")
        by_id = {r["id"]: r for r in records}
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        work = out.parent / f".{out.name}.{secrets.token_hex(4)}.tmp"
        try:
            (work / "overlays").mkdir(parents=True)
            for s in summaries:
                for rid in s["disagreements"]:
                    r = by_id[rid]
                    for role in ("champion", "challenger"):
                        (work / "overlays" / f"{rid}_{role}.png").write_bytes(
                            overlay_png(store.path(r), r["predictions"][role]))
            write_json(work / "report.json", {"store": str(store_dir), "pairs": summaries})
            (work / "index.html").write_text(_page(store_dir, summaries, by_id), encoding="utf-8")
            publish_mode(work, directory=True)
            if out.exists():
                shutil.rmtree(out)
            os.replace(work, out)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    finally:
        store.close()
    return out / "index.html"


def _num(v, fmt=".4f") -> str:
    return "n/a" if v is None else format(v, fmt)


def _hashes(model: dict) -> str:
    """network/head hash prefixes: two runs may share the network and differ in the head."""
    head = model["head_hash"][:8] if model["head_hash"] else "no head"
    return html.escape(f"{model['model_hash'][:8]}/{head}")


def _page(store_dir: Path, summaries: list[dict], by_id: dict) -> str:
    e = html.escape
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>shadow report</title>"
             "<style>body{font:14px system-ui,sans-serif;margin:1.5em}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}.pair{margin-bottom:2em}"
             "figure{display:inline-block;margin:.3em 1em .3em 0}figcaption{font-size:12px;color:#555}"
             "</style></head><body>",
             f"<h1>Shadow report</h1><p>Store <code>{e(str(store_dir))}</code>, every image scored by both models.</p>"]
    for i, s in enumerate(summaries):
        ch, cl = s["champion"], s["challenger"]
        parts.append(f"<div class='pair' data-pair='{i}'><h2>champion {_hashes(ch)} vs challenger "
                     f"{_hashes(cl)}</h2><table>"
                     f"<tr><th></th><th>champion</th><th>challenger</th></tr>"
                     f"<tr><th>run</th><td><code>{e(ch['run'])}</code></td><td><code>{e(cl['run'])}</code></td></tr>"
                     f"<tr><th>runtime</th><td>{e(ch['runtime'])}</td><td>{e(cl['runtime'])}</td></tr>"
                     f"<tr><th>threshold</th><td>{ch['threshold']:.4f}</td><td>{cl['threshold']:.4f}</td></tr>")
        for metric in ("auroc", "f1"):
            cells = "".join(f"<td data-metric='{role}-{metric}'>{_num(s['labelled'].get(role, {}).get(metric))}</td>"
                            for role in ("champion", "challenger"))
            parts.append(f"<tr><th>{metric.upper()} on {s['n_labelled']} labelled images</th>{cells}</tr>")
        parts.append("</table>"
                     f"<p>images: <b data-metric='images'>{s['images']}</b>; decisions agree on "
                     f"<b data-metric='agreement'>{100 * s['agreement']:.1f} %</b>; score correlation "
                     f"Pearson <b data-metric='pearson'>{_num(s['pearson'], '.3f')}</b>, Spearman "
                     f"<b data-metric='spearman'>{_num(s['spearman'], '.3f')}</b>.</p>"
                     f"<h3>{len(s['disagreements'])} images where they disagree</h3>")
        for rid in s["disagreements"]:
            r = by_id[rid]
            label = f", marked {r['label']}" if r["label"] else ""
            parts.append(f"<div class='disagreement' data-id='{e(rid)}'><p>{e(r['filename'] or rid)}{e(label)}</p>")
            for role in ("champion", "challenger"):
                p = r["predictions"][role]
                verdict = "ANOMALOUS" if p["anomalous"] else "normal"
                parts.append(f"<figure><img src='overlays/{e(rid)}_{role}.png' alt='{role}'>"
                             f"<figcaption>{role}: {verdict}, score {p['score']:.4f}</figcaption></figure>")
            parts.append("</div>")
        parts.append("</div>")
    parts.append("</body></html>")
    return "\n".join(parts)
