"""Test helper: the checked-in recipes in models/, read as the tests' runs need them."""

import json
from pathlib import Path


def checked_in_recipe(name: str, **fields):
    """A FomoAdRecipe from models/<name>.json (its backbone part left out), with fields replaced."""
    from vadtool.models.fomo_ad import FomoAdRecipe
    loaded = json.loads((Path(__file__).parents[1] / "models" / f"{name}.json").read_text())
    loaded.pop("description")
    loaded.pop("backbone", None)
    return FomoAdRecipe(**{**loaded, **fields})
