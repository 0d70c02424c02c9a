"""Input geometry: --size parsing and its errors, the shape chosen from the data, the three
resize modes as one affine map per image (pixels, masks, cell maps and boxes agree)."""

import numpy as np
import pytest
from PIL import Image

from vadtool import data as datasets
from vadtool.geometry import (InputGeometry, SizeError, check_shape, choose_shape,
                              describe_sizes, parse_size, recipe_overrides)
from vadtool.predict import boxes


@pytest.mark.parametrize("text,want", [("128", 128), ("160x400", (400, 160)), (" 96 X 64 ", (64, 96)),
                                       (96, 96), (None, None)])
def test_parse_size(text, want):
    assert parse_size(text) == want


@pytest.mark.parametrize("text,message", [
    ("0", "sides must be 32..1024 px; 0 is not"),
    ("7x3000", "sides must be 32..1024 px; 7 and 3000 are not"),
    ("abc", "give one side in pixels (128) or WIDTHxHEIGHT (160x400)"),
    ("64x", "WIDTHxHEIGHT"), ("-5", "WIDTHxHEIGHT"), ("1.5", "WIDTHxHEIGHT"),
])
def test_bad_sizes_say_why_in_one_line(text, message):
    with pytest.raises(SizeError) as err:
        parse_size(text)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_sides_must_be_multiples_of_the_stride():
    assert check_shape((64, 192), 32) == (64, 192)
    with pytest.raises(SizeError, match=r"--size 100x400: sides must be multiples of 32 .*100 is not: use 96 or 128"):
        check_shape((400, 100), 32)


def test_one_side_keeps_the_data_aspect_and_clears_a_recipe_shape():
    assert recipe_overrides("128", None) == {"size": 128, "shape": None}
    assert recipe_overrides("160x400", "fit") == {"shape": [400, 160], "resize": "fit"}
    assert recipe_overrides(None, None) == {}


def test_shape_keeps_the_median_aspect_at_multiples_of_the_stride():
    long_parts = [(1240, 500)] * 3 + [(1000, 500), (1300, 520)]  # median aspect 2.48
    assert choose_shape(long_parts, 128, 32) == (128, 320)
    assert choose_shape([(100, 300)] * 2, 64, 16) == (192, 64)  # tall: the width is the shorter side
    assert choose_shape([(700, 700)], 128, 32) == (128, 128)
    assert choose_shape([(100, 10)], 128, 32) == (128, 1024)  # capped at the largest side
    assert "aspect (w/h) 2.00/2.48/2.50 (min/median/max of 5 images)" in describe_sizes(long_parts)


def test_legacy_manifest_size_is_a_squashed_square():
    assert InputGeometry.from_manifest({"input": {"size": 96, "channels": 3}}) == InputGeometry(96, 96, "squash")
    g = InputGeometry(48, 144, "crop")
    assert InputGeometry.from_manifest({"input": g.to_json()}) == g
    assert g.to_json() == {"height": 48, "width": 144, "channels": 3, "resize": "crop", "pixels": "RGB uint8"}
    with pytest.raises(SizeError, match="not one of squash, fit, crop"):
        InputGeometry(32, 32, "stretch")


def _dot_image(path, size=(300, 100), box=(170, 30, 200, 60)):
    """A black (w, h) RGB image with a white box, and its mask."""
    a = np.zeros((size[1], size[0], 3), np.uint8)
    x0, y0, x1, y1 = box
    a[y0:y1, x0:x1] = 255
    Image.fromarray(a).save(path)
    m = (a[..., 0] > 0).astype(np.uint8) * 255
    Image.fromarray(m).save(path.with_name(path.stem + "_mask.png"))
    return path, path.with_name(path.stem + "_mask.png")


@pytest.mark.parametrize("resize", ["squash", "fit", "crop"])
def test_pixels_and_masks_land_where_the_affine_map_says(tmp_path, resize):
    image, mask = _dot_image(tmp_path / "a.png")
    g = InputGeometry(64, 96, resize)
    pixels = datasets.load_image(image, g.shape_hw, resize)
    m = datasets.load_mask(mask, g.shape_hw, resize)
    assert pixels.shape == (64, 96, 3) and m.shape == (64, 96)
    sx, ox, sy, oy = g.affine(300, 100)
    want = (sx * 185 + ox, sy * 45 + oy)  # the box centre, mapped
    ys, xs = np.nonzero(pixels[..., 0] > 127)
    assert abs(xs.mean() + 0.5 - want[0]) < 1.0 and abs(ys.mean() + 0.5 - want[1]) < 1.0
    bright = pixels[..., 0] > 127
    assert (bright & (m == 1)).sum() / (bright | (m == 1)).sum() > 0.8  # the mask follows its image


def test_fit_pads_and_crop_cuts(tmp_path):
    image, _ = _dot_image(tmp_path / "a.png", box=(0, 0, 300, 100))  # all white
    fit = datasets.load_image(image, (64, 96), "fit")
    assert (fit[:16] == 0).all() and (fit[48:] == 0).all() and (fit[17:47] == 255).all()  # 96x32 inside
    assert InputGeometry(64, 96, "fit").content(300, 100).sum() == 96 * 32
    crop = InputGeometry(64, 96, "crop")
    assert crop.affine(300, 100) == pytest.approx((96 / 150, -75 * 96 / 150, 0.64, 0.0))


def test_cell_maps_go_back_onto_the_original_image():
    cells = np.zeros((2, 3), np.float32)
    cells[0, 2] = 10  # the top-right cell
    for resize in ("squash", "fit"):
        heat = InputGeometry(64, 96, resize).cells_to_source(cells, 300, 100)
        assert heat.shape == (100, 300) and np.isfinite(heat).all()
        y, x = np.unravel_index(np.argmax(heat), heat.shape)
        assert x > 200 and (y < 50 or resize == "fit")
    crop = InputGeometry(64, 96, "crop").cells_to_source(cells, 300, 100)  # sees columns 75..225
    assert np.isnan(crop[:, :74]).all() and np.isnan(crop[:, 226:]).all()
    assert np.isfinite(crop[:, 76:224]).all()
    assert crop[10, 220] > 9 and crop[90, 80] < 1
    # boxes of anomalous cells in the original's pixels: the crop's top-right cell
    (b,) = boxes(cells, 5.0, 100, 300, InputGeometry(64, 96, "crop"))
    assert (b["x0"], b["y0"], b["x1"], b["y1"]) == (175, 0, 225, 50)
    (b,) = boxes(cells, 5.0, 100, 300)  # no geometry: squashed
    assert (b["x0"], b["y0"], b["x1"], b["y1"]) == (200, 0, 300, 50)
