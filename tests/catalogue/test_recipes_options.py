"""Catalogue: recipe files and command-line options. Each is refused in one line naming the
key or option and what is allowed, before any work (and before TensorFlow loads), with
nothing written."""

from __future__ import annotations

import json

import pytest

from catalogue.harness import refused

# name -> (recipe file content, what the line must name)
RECIPES = {
    "list": ("[1, 2]", ["not a list"]),
    "not_json": ('{"size": 96,', ["not a readable JSON recipe"]),
    "nested_typo": ('{"backbone": {"alfa": 0.35}}', ["'backbone.alfa'", "arch, alpha"]),
    "top_typo": ('{"desnity": "knn"}', ["'desnity'", "density"]),
    "size_string": ('{"size": "96"}', ["'size'", "whole number"]),
    "size_bool": ('{"size": true}', ["'size'", "whole number"]),
    "size_small": ('{"size": 8}', ["'size'", "32 to 1024"]),
    "density_unknown": ('{"density": "kde"}', ["'density'", "knn"]),
    "image_score_unknown": ('{"image_score": "median"}', ["'image_score'", "top-half"]),
    "cut_unknown": ('{"backbone": {"cut": "block_99_expand_relu"}}', ["'backbone.cut'", "block_N"]),
    "extra_layer_unknown": ('{"extra_layers": ["conv_pw_5_relu"]}', ["'extra_layers'", "mobilenet_v2"]),
    "backbone_not_object": ('{"backbone": "mobilenet_v2"}', ["'backbone'", "object"]),
    "arch_unknown": ('{"backbone": {"arch": "resnet50"}}', ["'backbone.arch'", "mobilenet_v1"]),
    "alpha_unbuilt": ('{"backbone": {"alpha": 0.6}}', ["'backbone.alpha'", "0.35"]),
    "shape_one_side": ('{"shape": [96]}', ["'shape'", "2 items"]),
    "pool_negative": ('{"pool": -1}', ["'pool'", "0 to 15"]),
    "holdout_above_one": ('{"holdout": 1.5}', ["'holdout'", "0 to 0.9"]),
    "components_zero": ('{"density": "gmm", "components": 0}', ["'components'", "1 to 256"]),
    "resize_unknown": ('{"resize": "zoom"}', ["'resize'", "squash"]),
    "input_scale_unknown": ('{"backbone": {"input_scale": "caffe"}}', ["'backbone.input_scale'", "unit"]),
}


@pytest.mark.parametrize("case", sorted(RECIPES))
def test_fomo_ad_recipe_refused(case, tmp_path, tiny_data):
    text, names = RECIPES[case]
    recipe = tmp_path / "recipe.json"
    recipe.write_text(text)
    refused("train", "fomo-ad", tiny_data, "--recipe", recipe, "--out", tmp_path / "run",
            names=[str(recipe), *names], watch=[tmp_path, tiny_data])


def test_classifier_refuses_a_fomo_ad_recipe(tmp_path, tiny_data):
    recipe = tmp_path / "recipe.json"
    recipe.write_text(json.dumps({"density": "gaussian"}))
    refused("train", "classifier", tiny_data, "--recipe", recipe, "--out", tmp_path / "run",
            names=[str(recipe), "'density'", "anomaly_share"], watch=[tmp_path, tiny_data])


# name -> (arguments after `vadtool`, what the line must name); {data} {run} {file} {dir} filled in
OPTIONS = {
    "components_zero": ("train fomo-ad {data} --out {new} --density gmm --components 0", ["--components", "1 to 256"]),
    "threshold_nan": ("train fomo-ad {data} --out {new} --threshold nan", ["--threshold", "finite"]),
    "threshold_inf": ("train classifier {data} --out {new} --threshold inf", ["--threshold", "finite"]),
    "alpha_out_of_range": ("train fomo-ad {data} --out {new} --alpha 2", ["--alpha", "0.25"]),
    "alpha_nan": ("train fomo-ad {data} --out {new} --alpha nan", ["--alpha"]),
    "cut_unknown": ("train fomo-ad {data} --out {new} --cut block_6_relu", ["--cut", "block_N"]),
    "anomaly_share_zero": ("train classifier {data} --out {new} --anomaly-share 0", ["--anomaly-share"]),
    "size_zero": ("train fomo-ad {data} --out {new} --size 0", ["--size"]),
    "density_unknown": ("train fomo-ad {data} --out {new} --density kde", ["--density"]),
    "train_out_is_file": ("train fomo-ad {data} --out {file}", ["--out", "is a file"]),
    "train_out_not_empty": ("train classifier {data} --out {dir}", ["not empty"]),
    "train_out_inside_file": ("train fomo-ad {data} --out {file}/run", ["--out", "is a file"]),
    "evaluate_limit_negative": ("evaluate {run} --limit -3", ["--limit", "x>=1"]),
    "bench_limit_zero": ("bench {run} --limit 0", ["--limit", "x>=1"]),
    "evaluate_runtime_unknown": ("evaluate {run} --runtime onnx", ["--runtime"]),
    "predict_out_is_file": ("predict {run} {image} --out {file}", ["--out", "is a file"]),
    "render_out_is_file": ("render {run} --board qemu-an386 --out {file}", ["--out", "is a file"]),
    "report_out_is_file": ("report {run} --out {file}", ["--out", "is a file"]),
    "export_out_inside_file": ("export {run} --format tflite --out {file}/model.tflite", ["--out", "is a file"]),
    "import_out_is_file": ("import {file} --out {file} --calib {data}", ["--out", "is a file"]),
    "synth_out_is_file": ("data synth {file}", ["OUT", "is a file"]),
    "bench_markdown_is_folder": ("bench {run} --markdown {dir}", ["--markdown", "is a folder"]),
    "bank_kb_nan": ("train fomo-ad {data} --out {new} --bank-kb nan", ["--bank-kb", "finite"]),
    "train_seed_negative": ("train fomo-ad {data} --out {new} --seed -2", ["--seed"]),
    "synth_seed_negative": ("data synth {new} --seed -1", ["--seed"]),
    "synth_train_zero": ("data synth {new} --train 0", ["--train"]),
    "emulate_port_out_of_range": ("emulate {dir} --port 70000", ["--port", "65535"]),
    "unknown_option": ("evaluate {run} --limt 3", ["--limt"]),
    "missing_argument": ("train fomo-ad", ["DATA"]),
    "run_not_found": ("evaluate {tmp}/nothere", ["RUN"]),
}


@pytest.mark.parametrize("case", sorted(OPTIONS))
def test_option_refused(case, tmp_path, tiny_data, good_run):
    line, names = OPTIONS[case]
    (tmp_path / "afile").write_text("not a folder")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("mine")
    image = sorted((tiny_data / "test" / "good").glob("*.png"))[0]
    args = line.format(data=tiny_data, run=good_run, new=tmp_path / "new", file=tmp_path / "afile",
                       dir=tmp_path / "busy", image=image, tmp=tmp_path).split()
    refused(*args, names=names, watch=[tmp_path, tiny_data, good_run])
