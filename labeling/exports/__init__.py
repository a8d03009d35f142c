"""Dataset snapshots built from the labeling work: recipes, pairs, split, build, card."""

from labeling.exports.build import SnapshotError, snapshot_build, snapshot_create
from labeling.exports.recipe import Recipe, RecipeError, recipe_load, recipe_parse

__all__ = [
    "Recipe",
    "RecipeError",
    "SnapshotError",
    "recipe_load",
    "recipe_parse",
    "snapshot_build",
    "snapshot_create",
]
