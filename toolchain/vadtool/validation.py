"""The validation set training tunes on: never the test split.

It holds the held-back normal training images, synthetic anomalies painted on them (the
defects of synth.add_defect, each with its exact mask; half of them blended in at partial
strength, because real defects are often faint) and, with ``--val DIR``, the user's own
images. The recipe search ranks candidates on it and the threshold is set on it; the run
keeps it as ``validation.npz`` so that quantize sets the int8 threshold on the same images.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from . import synth
from .data import IMAGE_EXTS, MASK_SUFFIX
from .errors import DatasetError

VALIDATION_FILE = "validation.npz"
DEFECTS_PER_IMAGE = 2  # synthetic anomalies per normal image: one at full strength, one faint
FAINT_OPACITY = (0.25, 0.6)  # real defects are often faint: every other one is blended in
# Defect sizes are drawn log-uniformly over this factor of synth.add_defect's: a defect may be
# a few pixels or spread over a good part of the image, and the ranking must not favour either
SCALES = (0.5, 3.0)
NORMAL_FOLDER = "good"


@dataclass
class ValidationSet:
    images: np.ndarray  # (N, H, W, 3) uint8 at the model's input shape
    masks: np.ndarray  # (N, H, W) uint8 0/1
    labels: np.ndarray  # (N,) 0 normal, 1 anomalous
    sources: list[str]  # "holdout", "synthetic:<defect>[:faint]" or "val:<relative path>"

    def __len__(self) -> int:
        return len(self.labels)

    def counts(self) -> dict[str, int]:
        kinds = [s.split(":")[0] for s in self.sources]
        return {"normal": int((self.labels == 0).sum()), "anomalous": int(self.labels.sum()),
                "synthetic": kinds.count("synthetic"), "user": kinds.count("val")}

    def save(self, path: Path) -> None:
        with open(path, "wb") as f:  # a file object: np.savez would add ".npz" to a temp name
            np.savez_compressed(f, images=self.images, masks=self.masks, labels=self.labels,
                                sources=np.array(self.sources))

    @classmethod
    def load(cls, path: Path) -> "ValidationSet":
        with np.load(path) as z:
            return cls(z["images"], z["masks"], z["labels"], [str(s) for s in z["sources"]])


@dataclass
class Synthetic:
    images: np.ndarray  # (M, H, W, 3) uint8
    masks: np.ndarray  # (M, H, W) uint8 0/1, exactly the pixels the defect changed
    defects: list[str]
    owner: np.ndarray  # (M,) the index of the normal image each was painted on
    faint: np.ndarray  # (M,) bool: blended in at FAINT_OPACITY

    def subset(self, owners) -> "Synthetic":
        keep = np.isin(self.owner, owners)
        return Synthetic(self.images[keep], self.masks[keep],
                         [d for d, k in zip(self.defects, keep) if k], self.owner[keep], self.faint[keep])


def synthetic_anomalies(normals: np.ndarray, seed: int, per_image: int = DEFECTS_PER_IMAGE) -> Synthetic:
    """per_image defective copies of each normal image; a pasted patch comes from another of
    them. The same seed gives the same images."""
    rng = np.random.default_rng(seed)
    images, masks, names, owner, faint = [], [], [], [], []
    for i, image in enumerate(normals):
        for k in range(per_image):  # every defect kind in turn, so each is equally represented
            defect = synth.REAL_DEFECTS[(i * per_image + k) % len(synth.REAL_DEFECTS)]
            donors = normals[[j for j in rng.choice(len(normals), min(3, len(normals)), replace=False) if j != i]]
            scale = float(np.exp(rng.uniform(np.log(SCALES[0]), np.log(SCALES[1]))))
            out, mask = synth.add_defect(image, rng, defect, donors=donors if len(donors) else None, scale=scale)
            if k % 2 == 1:
                a = rng.uniform(*FAINT_OPACITY)
                out = np.clip(image * (1 - a) + out.astype(np.float32) * a + 0.5, 0, 255).astype(np.uint8)
                mask = mask & (out != image).any(-1)
            if not mask.any():  # painted over something of the same tone: a spot instead
                defect = "spot"
                out, mask = synth.add_defect(image, rng, defect)
            images.append(out)
            masks.append(mask.astype(np.uint8))
            names.append(defect)
            owner.append(i)
            faint.append(k % 2 == 1)
    shape = normals.shape[1:3]
    return Synthetic(np.stack(images) if images else np.zeros((0, *shape, 3), np.uint8),
                     np.stack(masks) if masks else np.zeros((0, *shape), np.uint8), names,
                     np.asarray(owner, np.int64), np.asarray(faint, bool))


def rescaled(synthetic: Synthetic, painted_on: np.ndarray, normals: np.ndarray) -> Synthetic:
    """The same defects at another input shape: each defect's change to the image it was
    painted on (painted_on, indexed by owner) resized bilinearly and added to that image at the
    new shape (normals). A thin crack fades at a smaller input as a real one would; drawn
    afresh at the smaller shape it would stay one crisp pixel wide. The mask is again exactly
    the pixels that changed (it may be empty: the defect vanished)."""
    from PIL import Image
    h, w = normals.shape[1:3]
    images = np.empty((len(synthetic.images), h, w, 3), np.uint8)
    for i, (image, owner) in enumerate(zip(synthetic.images, synthetic.owner)):
        change = image.astype(np.float32) - painted_on[owner].astype(np.float32)
        small = np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(change[..., c]), mode="F")
                                     .resize((w, h), Image.Resampling.BILINEAR)) for c in range(3)], -1)
        images[i] = np.clip(normals[owner] + small + 0.5, 0, 255).astype(np.uint8)
    masks = (images != normals[synthetic.owner]).any(-1).astype(np.uint8)
    return Synthetic(images, masks, list(synthetic.defects), synthetic.owner.copy(), synthetic.faint.copy())


def user_folder(root: Path) -> list[tuple[Path, Path | None, int]]:
    """(image, mask or None, label) of a --val folder: DIR/good/ normal, every other
    subfolder anomalous, masks beside the images as <stem>_mask.png."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: --val folder not found")
    found = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        label = 0 if sub.name == NORMAL_FOLDER else 1
        files = sorted(p for p in sub.iterdir() if p.suffix.lower() in IMAGE_EXTS)
        for path in files:
            if path.stem.endswith(MASK_SUFFIX):
                continue
            mask = next((m for m in files if m.stem == path.stem + MASK_SUFFIX), None)
            found.append((path, mask, label))
    if not any(label for _, _, label in found):
        raise DatasetError(f"{root}: --val holds no anomalous images; put them in "
                           f"{root}/<defect>/ (normal ones in {root}/{NORMAL_FOLDER}/)")
    return found


def build(holdout: np.ndarray, synthetic: Synthetic, user: list | None = None,
          load: Callable | None = None, user_root: Path | None = None) -> ValidationSet:
    """The validation set: held-back normal images (uint8 at the input shape), the synthetic
    anomalies painted on them, and optionally the user's (path, mask, label) list read by
    load(path, mask) -> (image, mask)."""
    shape = holdout.shape[1:3]
    parts = [(holdout, np.zeros((len(holdout), *shape), np.uint8), np.zeros(len(holdout), np.int64),
              ["holdout"] * len(holdout)),
             (synthetic.images, synthetic.masks, np.ones(len(synthetic.images), np.int64),
              [f"synthetic:{n}{':faint' if faint else ''}" for n, faint in zip(synthetic.defects, synthetic.faint)])]
    if user:
        loaded = [load(path, mask) for path, mask, _ in user]
        parts.append((np.stack([im for im, _ in loaded]), np.stack([m for _, m in loaded]),
                      np.array([label for _, _, label in user], np.int64),
                      [f"val:{Path(p).relative_to(user_root) if user_root else p}" for p, _, _ in user]))
    return ValidationSet(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
                         np.concatenate([p[2] for p in parts]), sum((p[3] for p in parts), []))


def choose_threshold(scores: np.ndarray, labels: np.ndarray) -> tuple[float, str]:
    """The decision threshold and how it was set: the one that maximises F1 on the validation
    set, halfway to the next score so a rescaled score (int8) lands on the same side; without
    anomalies, the highest normal score."""
    scores, labels = np.asarray(scores, np.float64), np.asarray(labels)
    normal = scores[labels == 0]
    if not labels.any() or not len(normal):
        return float(scores.max()), "max held-back normal score"
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], labels[order]
    tp = np.cumsum(y)
    fp = np.cumsum(1 - y)
    f1 = 2 * tp / (tp + fp + y.sum())
    # only cut between distinct scores: everything at or above s[i] is flagged
    distinct = np.r_[s[1:] < s[:-1], True]
    i = int(np.argmax(np.where(distinct, f1, -1)))
    below = s[i + 1] if i + 1 < len(s) else s[i] - 1.0
    return float((s[i] + below) / 2), "best F1 on the validation set"
