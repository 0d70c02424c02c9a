"""Meta-validation of the search's ranking rule, on training images only.

The search ranks candidates by how well they tell held-back normal images from synthetic
defects painted on them. Which summary of those numbers to rank by (search.RULES) is itself
a choice, and it must be made without any test label. This script makes it the honest way:
leave one defect family out. For each synthetic defect family F, each rule picks a candidate
(and an input side, with the search's own tie rules) from the other families' defects only;
its regret on F is the best candidate's AUROC on F minus the picked one's. A rule with low
held-out-family regret picks candidates that hold up on defects it never saw, which is the
situation of real defects.

    capture DATA OUT.pkl [--run DIR]   train fomo-ad DATA with the default search (no options),
                                       keeping every candidate's out-of-fold image scores
                                       (the run goes to DIR: the "before" model)
    analyse OUT.pkl [OUT.pkl ...]      the held-out-family regret of every rule, per set

Nothing here reads test/ or ground_truth/: capture is `vadtool train`, which never opens
them (tests/test_search.py checks it).
"""

from __future__ import annotations

import argparse
import pickle
import sys
from pathlib import Path

import numpy as np

from vadtool import metrics, search
from vadtool.metrics import _ranks

# rules scored here: the search's own (search.RULES) and one that needs the whole table at
# once (a rank average over families), kept here unless it wins
META_RULES = tuple(search.RULES) + ("family-rank",)


def capture(data: Path, out: Path, run_dir: Path, seed: int = 0) -> None:
    from vadtool.cli import cli
    kept = []
    original = search.run

    def recording(base, *args, **kwargs):
        result = original(base, *args, **kwargs)
        kept.append({"shape": list(base.shape) if base.shape else None, "table": result.table,
                     "scores": result.scores, "families": result.families, "faint": result.faint})
        return result

    search.run = recording
    try:
        cli.main(["-q", "train", "fomo-ad", str(data), "--out", str(run_dir)]
                 + (["--seed", str(seed)] if seed else []), standalone_mode=False)
    finally:
        search.run = original
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as f:
        pickle.dump({"data": str(data), "seed": seed, "sides": kept}, f)
    print(f"{out}: {len(kept)} input sides, {sum(len(s['table']) for s in kept)} candidates")


_NUMBERS: dict = {}


def _keys(side: dict, rule: str, keep: np.ndarray) -> dict[str, float]:
    """Each candidate's rank key under rule, from the synthetic anomalies in keep only."""
    fam = np.asarray(side["families"])
    faint = side["faint"][keep] if side["faint"] is not None else None
    cache = _NUMBERS.setdefault((id(side), keep.tobytes()), {})
    out = {}
    for name, (normal, syn) in side["scores"].items():
        if name not in cache:
            cache[name] = search.synthetic_numbers(normal, syn[keep], list(fam[keep]), faint)
        out[name] = search.synthetic_key(cache[name], rule)
    return out


def _family_auroc(side: dict, family: str) -> dict[str, float]:
    fam = np.asarray(side["families"])
    return {name: metrics.auroc(np.r_[np.zeros(len(n)), np.ones(int((fam == family).sum()))],
                                np.r_[n, s[fam == family]])
            for name, (n, s) in side["scores"].items()}


def pick(sides: list[dict], rule: str, keep_family) -> tuple[int, str]:
    """(side index, candidate) the search would choose under rule, seeing only the synthetic
    anomalies whose family keep_family(f) accepts: per side the best key, near-ties to the
    smallest head (search.choose_row), then across sides the best, near-ties to the smaller
    input (search.choose_side)."""
    params = [{r["candidate"]: r["head_params"] for r in side["table"]} for side in sides]
    if rule == "family-rank":  # needs every side's candidates at once: mean rank over families
        fams = sorted({f for side in sides for f in side["families"] if keep_family(f)})
        entries = [(i, name) for i, side in enumerate(sides) for name in side["scores"]]
        cache = {(i, f): _family_auroc(sides[i], f) for i in range(len(sides)) for f in fams}
        ranks = np.zeros(len(entries))
        for f in fams:
            values = np.array([cache[(i, f)][name] for i, name in entries])
            ranks += _ranks(values) / len(fams)  # higher AUROC, higher rank
        best = ranks.max()
        top = [e for e, r in zip(entries, ranks) if r >= best - 1e-9]
        return min(top, key=lambda e: (params[e[0]][e[1]], -e[0]))
    chosen = []
    for i, side in enumerate(sides):
        keep = np.array([keep_family(f) for f in side["families"]])
        keys = _keys(side, rule, keep)
        rows = [{"candidate": n, "head_params": params[i][n], "rank_key": k} for n, k in keys.items()]
        row = search.choose_row(rows)
        chosen.append((i, row["candidate"], row["rank_key"]))
    best = max(k for _, _, k in chosen)
    i = max(j for j, (_, _, k) in enumerate(chosen) if k >= best - search.TIE)
    return chosen[i][0], chosen[i][1]


def analyse(paths: list[Path]) -> None:
    results = {}
    for path in paths:
        with open(path, "rb") as f:
            got = pickle.load(f)
        sides = got["sides"]
        name = Path(got["data"]).name + (f" seed {got['seed']}" if got.get("seed") else "")
        families = sorted(set(sides[0]["families"]))
        rows = {}
        for rule in META_RULES:
            regrets = []
            for held in families:
                i, cand = pick(sides, rule, lambda f, held=held: f != held)
                aurocs = [_family_auroc(side, held) for side in sides]
                best = max(v for a in aurocs for v in a.values() if v is not None)
                regrets.append(best - aurocs[i][cand])
            full_i, full = pick(sides, rule, lambda f: True)
            shape = sides[full_i]["shape"]
            rows[rule] = {"mean": float(np.mean(regrets)), "worst": float(np.max(regrets)),
                          "per_family": dict(zip(families, map(float, regrets))),
                          "full_pick": f"{full} @ {shape}"}
        results[name] = rows
        counts = {f: sides[0]["families"].count(f) for f in families}
        print(f"\n## {name}: {len(sides)} sides, normals ranked {len(next(iter(sides[0]['scores'].values()))[0])}, "
              f"synthetic per family {counts}")
        print("| rule | mean held-out-family regret | worst | picks on all families |")
        print("|---|---|---|---|")
        for rule, r in rows.items():
            print(f"| {rule} | {r['mean']:.4f} | {r['worst']:.4f} | {r['full_pick']} |")
    print("\n## mean held-out-family regret, rules x sets")
    names = list(results)
    print("| rule | " + " | ".join(names) + " | mean |")
    print("|---|" + "---|" * (len(names) + 1))
    for rule in META_RULES:
        vals = [results[n][rule]["mean"] for n in names]
        print(f"| {rule} | " + " | ".join(f"{v:.4f}" for v in vals) + f" | {np.mean(vals):.4f} |")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("capture")
    c.add_argument("data", type=Path)
    c.add_argument("out", type=Path)
    c.add_argument("--run", type=Path, required=True)
    c.add_argument("--seed", type=int, default=0, help="the held-back split and the defects (train --seed)")
    a = sub.add_parser("analyse")
    a.add_argument("paths", type=Path, nargs="+")
    args = p.parse_args(argv)
    if args.cmd == "capture":
        capture(args.data, args.out, args.run, args.seed)
    else:
        analyse(args.paths)
    return 0


if __name__ == "__main__":
    sys.exit(main())
