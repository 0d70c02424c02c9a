"""The one recipe schema (recipe_schema.py) and the recipe dataclasses agree, and every
checked-in recipe passes it."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from vadtool import recipe_schema
from vadtool.errors import VadError

MODELS = Path(__file__).resolve().parents[1] / "models"


def test_schema_keys_are_the_recipe_fields():
    from vadtool.models.backbone import BackboneSpec
    from vadtool.models.classifier import ClassifierRecipe
    from vadtool.models.fomo_ad import FomoAdRecipe
    for kind, cls in (("fomo-ad", FomoAdRecipe), ("classifier", ClassifierRecipe)):
        assert list(recipe_schema.SCHEMAS[kind]) == [f.name for f in fields(cls)], kind
    assert list(recipe_schema.BACKBONE) == [f.name for f in fields(BackboneSpec)]


def test_defaults_pass_the_schema(tmp_path):
    import json
    from vadtool.models.classifier import ClassifierRecipe
    from vadtool.models.fomo_ad import FomoAdRecipe
    for kind, cls in (("fomo-ad", FomoAdRecipe), ("classifier", ClassifierRecipe)):
        path = tmp_path / f"{kind}.json"
        path.write_text(json.dumps(cls().to_json()))
        assert recipe_schema.load_file(path, kind) == cls().to_json()


@pytest.mark.parametrize("recipe", sorted(MODELS.glob("*.json")), ids=lambda p: p.stem)
def test_checked_in_recipes_pass(recipe):
    assert "density" in recipe_schema.load_file(recipe, "fomo-ad")


def test_options_are_checked_by_the_same_rules():
    recipe_schema.check_option("fomo-ad", "components", 3, "--components")
    with pytest.raises(VadError, match=r"--components 0: allowed: a whole number from 1 to 256"):
        recipe_schema.check_option("fomo-ad", "components", 0, "--components")
    with pytest.raises(VadError, match=r"--alpha nan"):
        recipe_schema.check_option("fomo-ad", "backbone.alpha", float("nan"), "--alpha")
