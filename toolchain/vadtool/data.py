"""Dataset discovery and image loading.

Two folder layouts are accepted:

* MVTec AD: ``train/good/``, ``test/good/``, ``test/<defect>/`` and, optionally,
  ``ground_truth/<defect>/<stem>_mask.png`` (one mask per anomalous image).
* plain: ``good/`` and ``anomaly/`` (or ``bad/``), masks beside their images as
  ``<stem>_mask.<ext>``. A plain layout has no split: every ``PLAIN_TEST_EVERY``-th good
  image by sorted file name (the 5th, 10th, ...) goes to the test split, the others to
  train; all anomalous images go to test.

Images are files with one of ``IMAGE_EXTS`` (any case); hidden files and other files are
ignored. Discovery refuses anything ambiguous with a one-line DatasetError that names the
file and the fix. A folder of anomalous images has masks for all its images or for none.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from vadtool.errors import DatasetError
from vadtool.geometry import InputGeometry

IMAGE_EXTS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"})
MASK_SUFFIX = "_mask"
PLAIN_TEST_EVERY = 5
SPLITS = ("train", "test")
_LAYOUTS = ("accepted layouts: MVTec (train/good/, test/good/, test/<defect>/, "
            "ground_truth/<defect>/<stem>_mask.png) or plain (good/ and anomaly/ or bad/)")


@dataclass(frozen=True)
class Sample:
    """One image: its split ("train" | "test"), label (0 normal, 1 anomalous), defect
    ("good" or the defect folder name) and mask path (None when it has no mask)."""

    path: Path
    split: str
    label: int
    defect: str
    mask: Path | None = None


@dataclass
class Dataset:
    """The samples found under ``root``, train split first, then test; within a split
    good images first, then defects by name, then files by name."""

    root: Path
    layout: str  # "mvtec" | "plain"
    samples: list[Sample]

    def split(self, name: str) -> list[Sample]:
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; use one of {SPLITS}")
        return [s for s in self.samples if s.split == name]

    @property
    def has_masks(self) -> bool:
        """True if any anomalous sample has a mask."""
        return any(s.mask is not None for s in self.samples if s.label == 1)

    def counts(self) -> dict[str, dict[str, int]]:
        """split -> defect -> number of images, for the splits that have images."""
        out: dict[str, dict[str, int]] = {}
        for s in self.samples:
            per = out.setdefault(s.split, {})
            per[s.defect] = per.get(s.defect, 0) + 1
        return out


Report = Callable[[str], None]


def discover(root: str | Path) -> Dataset:
    """Find the samples under ``root``; raise DatasetError on the first problem."""

    def fail(msg: str) -> None:
        raise DatasetError(msg)

    return _scan(Path(root), fail)


def check(root: str | Path, verify: bool = True) -> tuple[Dataset | None, list[str]]:
    """Collect every problem under ``root`` as one-line messages.

    With ``verify`` each image and mask is also decoded (as training decodes it) and each
    mask's size compared with its image's. Returns ``(dataset, [])`` when there is no problem, else ``(None, problems)``.
    """
    problems: list[str] = []
    dataset = _scan(Path(root), problems.append)
    if dataset is not None and verify:
        for s in dataset.samples:
            size = _verify(s.path, problems.append)
            if s.mask is not None:
                msize = _verify(s.mask, problems.append)
                if size and msize and size != msize:
                    problems.append(
                        f"{s.mask}: mask is {msize[0]}x{msize[1]} but its image {s.path.name} "
                        f"is {size[0]}x{size[1]}; re-export the mask at the image size")
    return (None, problems) if problems else (dataset, [])


def _verify(path: Path, report: Report) -> tuple[int, int] | None:
    """Decode the file as load_image does (a truncated JPEG has a good header), so check
    finds every image train would refuse."""
    try:
        return _open(path).size
    except DatasetError as e:
        report(str(e))
        return None


def _scan(root: Path, report: Report) -> Dataset | None:
    if not root.exists():
        report(f"{root}: folder not found; {_LAYOUTS}")
        return None
    if not root.is_dir():
        report(f"{root}: not a folder; pass the dataset folder ({_LAYOUTS})")
        return None
    if _case_variants(root, ("train", "test", "ground_truth", "good", "anomaly", "bad"), report):
        return None
    mvtec = [n for n in ("train", "test", "ground_truth") if (root / n).is_dir()]
    plain = [n for n in ("good", "anomaly", "bad") if (root / n).is_dir()]
    if mvtec and plain:
        report(f"{root}: mixes MVTec folders ({', '.join(mvtec)}) and plain folders "
               f"({', '.join(plain)}); keep one layout")
        return None
    if not mvtec and not plain:
        report(f"{root}: not a recognisable dataset layout; {_LAYOUTS}")
        return None
    for p in _files(root):
        report(f"{p}: image outside the dataset folders; move it into "
               f"{'train/good/ or test/<defect>/' if mvtec else 'good/ or anomaly/'}")
    layout = "mvtec" if mvtec else "plain"
    samples = _scan_mvtec(root, report) if mvtec else _scan_plain(root, report)
    train_folder = root / "train" / "good" if mvtec else root / "good"
    if not samples:
        report(f"{root}: no images found (extensions {', '.join(sorted(IMAGE_EXTS))}); "
               f"put normal images in {train_folder}/")
        return None
    if not any(s.split == "train" for s in samples):
        if train_folder.is_dir():
            report(f"{train_folder}: empty training set; put normal images in it")
        else:
            report(f"{train_folder}: folder missing, so the training set is empty; "
                   f"create it and put normal images in it")
        return None
    return Dataset(root, layout, samples)


def _scan_mvtec(root: Path, report: Report) -> list[Sample]:
    train, test, gt = root / "train", root / "test", root / "ground_truth"
    samples: list[Sample] = []
    for folder in (train, test, gt):
        if folder.is_dir():
            _case_variants(folder, ("good",), report)
    if train.is_dir():
        for d in _subdirs(train):
            if d.name != "good" and d.name.lower() != "good":
                report(f"{d}: anomalous images in the training split; move them to "
                       f"{test / d.name}/ (train/ holds only good/)")
        for p in _files(train):
            report(f"{p}: image outside a class folder; move it into {train / 'good'}/")
    if (train / "good").is_dir():
        images, _ = _images_and_masks(train / "good", report, holds="images")
        samples += [Sample(p, "train", 0, "good") for ps in images.values() for p in ps]
    defects = _subdirs(test) if test.is_dir() else []
    if test.is_dir():
        for p in _files(test):
            report(f"{p}: image outside a defect folder; move it into {test}/<defect>/ "
                   f"(good/ for normal images)")
    defects = [d for d in defects if d.name == "good" or d.name.lower() != "good"]  # reported above
    for d in sorted(defects, key=lambda d: (d.name != "good", d.name)):
        images, _ = _images_and_masks(d, report, holds="images")
        masks: dict[str, list[Path]] = {}
        if (gt / d.name).is_dir():
            _, masks = _images_and_masks(gt / d.name, report, holds="masks")
        label = 0 if d.name == "good" else 1
        pairs = _pair(images, masks, f"test/{d.name}", report, need_all=label == 1)
        samples += [Sample(p, "test", label, d.name, m) for p, m in pairs]
    if gt.is_dir():
        names = {d.name for d in defects}
        for d in _subdirs(gt):
            if d.name not in names:
                _, masks = _images_and_masks(d, report, holds="masks")
                _pair({}, masks, f"test/{d.name}", report, need_all=False)
        for p in _files(gt):
            report(f"{p}: mask outside a defect folder; move it into {gt}/<defect>/")
    return samples


def _scan_plain(root: Path, report: Report) -> list[Sample]:
    if (root / "anomaly").is_dir() and (root / "bad").is_dir():
        report(f"{root}: has both anomaly/ and bad/; merge them into anomaly/")
    samples: list[Sample] = []
    for name in ("good", "anomaly", "bad"):
        folder = root / name
        if not folder.is_dir():
            continue
        images, masks = _images_and_masks(folder, report, holds="both")
        label = 0 if name == "good" else 1
        pairs = _pair(images, masks, name, report, need_all=label == 1)
        for i, (p, m) in enumerate(pairs):
            # Plain layouts carry no split: hold out a fixed, name-ordered share of goods.
            to_test = label == 1 or i % PLAIN_TEST_EVERY == PLAIN_TEST_EVERY - 1
            samples.append(Sample(p, "test" if to_test else "train", label, name, m))
    return sorted(samples, key=lambda s: s.split != "train")


def _case_variants(folder: Path, names: tuple[str, ...], report: Report) -> bool:
    """Report sub-folders named like one of ``names`` in another case (``Good``, ``TEST``):
    read as written they would silently become a defect class or an unread folder."""
    found = False
    for d in _subdirs(folder):
        if d.name not in names and d.name.lower() in names:
            report(f"{d}: folder names are read exactly and this one differs only in case from "
                   f"{d.name.lower()}/; rename it to {d.name.lower()}/")
            found = True
    return found


def _subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _files(folder: Path) -> list[Path]:
    """Image files directly in ``folder``, by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                  and p.suffix.lower() in IMAGE_EXTS)


def _images_and_masks(folder: Path, report: Report, holds: str
                      ) -> tuple[dict[str, list[Path]], dict[str, list[Path]]]:
    """Images by stem and masks by the stem of their image. ``holds`` says what the
    folder may contain: "images" (MVTec image folders), "masks" (ground_truth/<defect>)
    or "both" (plain layout); a file of the other kind is reported."""
    images: dict[str, list[Path]] = {}
    masks: dict[str, list[Path]] = {}
    for d in _subdirs(folder):
        report(f"{d}: nested folders are not read; move its files into {folder}/")
    for p in _files(folder):
        is_mask = p.stem.lower().endswith(MASK_SUFFIX)
        if is_mask and holds == "images":
            report(f"{p}: masks belong in ground_truth/{folder.name}/; move it there")
        elif is_mask:
            masks.setdefault(p.stem[: -len(MASK_SUFFIX)], []).append(p)
        elif holds == "masks":
            report(f"{p}: not named <stem>{MASK_SUFFIX}.png; rename it to "
                   f"{p.stem}{MASK_SUFFIX}{p.suffix}")
        else:
            images.setdefault(p.stem, []).append(p)
    return images, masks


def _pair(images: dict[str, list[Path]], masks: dict[str, list[Path]], where: str,
          report: Report, need_all: bool) -> list[tuple[Path, Path | None]]:
    """(image, mask) pairs by image name; reports stray, duplicate and missing masks."""
    for stem, ms in masks.items():
        if stem not in images:
            for m in ms:
                report(f"{m}: mask has no image {where}/{stem}.*; rename it or remove it")
        elif len(images[stem]) > 1:
            report(f"{ms[0]}: matches {len(images[stem])} images "
                   f"({', '.join(p.name for p in images[stem])}); rename all but one")
        elif len(ms) > 1:
            report(f"{images[stem][0]}: has {len(ms)} masks "
                   f"({', '.join(m.name for m in ms)}); keep one and remove the others")
    has_any = any(stem in images for stem in masks)
    pairs = []
    for p in sorted(p for ps in images.values() for p in ps):
        ms = masks.get(p.stem, [])
        if need_all and has_any and not ms:
            report(f"{p}: has no mask while other {where} images have one; add "
                   f"{p.stem}{MASK_SUFFIX}.png or remove the other masks")
        pairs.append((p, ms[0] if len(ms) == 1 else None))
    return pairs


def _reason(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}".splitlines()[0]


def _open(path: Path | str) -> Image.Image:
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                im.load()
                return im
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found; restore it or run discovery again") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DatasetError(f"{path}: {_header_size(path)} is too large to decode (more than "
                           f"{Image.MAX_IMAGE_PIXELS:,} pixels); downscale it, e.g. to 2000 px "
                           f"on the longer side") from None
    except Exception as e:  # corrupt, truncated or unknown format
        raise DatasetError(f"{path}: cannot read image ({_reason(e)}); "
                           f"re-save it as PNG or JPEG, or remove it") from e


def _header_size(path: Path) -> str:
    limit = Image.MAX_IMAGE_PIXELS
    try:
        Image.MAX_IMAGE_PIXELS = None  # the header only, to say how large it is
        try:
            with Image.open(path) as im:
                return f"{im.width}x{im.height}"
        finally:
            Image.MAX_IMAGE_PIXELS = limit
    except Exception:  # noqa: BLE001 - only for the message
        return "the image"


def _to_8bit(im: Image.Image) -> Image.Image:
    """16/32-bit integer and float grayscale to 8-bit "L"; other modes unchanged."""
    if im.mode.startswith("I") or im.mode == "F":
        a = np.asarray(im, dtype=np.float64)
        top = 65535.0
        if im.mode == "F":  # float images are either 0..1 or 0..255
            top = 1.0 if a.max(initial=0) <= 1.0 else 255.0
        return Image.fromarray(np.clip(a / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    return im


def _geometry(shape_hw: int | tuple[int, int], resize: str) -> InputGeometry:
    h, w = (shape_hw, shape_hw) if isinstance(shape_hw, (int, np.integer)) else shape_hw
    return InputGeometry(int(h), int(w), resize)


def load_image(path: Path | str, shape_hw: int | tuple[int, int], resize: str = "squash") -> np.ndarray:
    """The image as uint8 (H, W, 3) RGB (an int: square), brought to that shape by
    ``resize`` (see geometry.RESIZES) with PIL bilinear.

    Grayscale, palette, RGBA (alpha dropped), CMYK and 16-bit images are converted.
    Raises DatasetError naming the file when it is missing, corrupt or unreadable.
    """
    im = _to_8bit(_open(path)).convert("RGB")
    return np.asarray(_geometry(shape_hw, resize).apply(im), dtype=np.uint8)


def load_mask(path: Path | str | None, shape_hw: int | tuple[int, int], resize: str = "squash") -> np.ndarray:
    """The mask as uint8 (H, W) of 0/1 (pixel > half scale is 1) in the same geometry as
    its image, resized nearest-neighbour (fit's padding is 0); ``None`` gives zeros."""
    geometry = _geometry(shape_hw, resize)
    if path is None:
        return np.zeros(geometry.shape_hw, np.uint8)
    im = _to_8bit(_open(path)).convert("L")
    return (np.asarray(geometry.apply(im, nearest=True)) > 127).astype(np.uint8)


def load_images(samples: Iterable[Sample], shape_hw: int | tuple[int, int], resize: str = "squash",
                progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Images of ``samples`` as (N, H, W, 3) uint8; ``progress(done, total)`` is called
    after each image."""
    samples = list(samples)
    geometry = _geometry(shape_hw, resize)
    out = np.empty((len(samples), *geometry.shape_hw, 3), np.uint8)
    for i, s in enumerate(samples):
        out[i] = load_image(s.path, geometry.shape_hw, resize)
        if progress is not None:
            progress(i + 1, len(samples))
    return out
