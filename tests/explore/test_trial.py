"""kiln.explore trials: the content key, and a failing recipe recorded, not raised."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiln.study import Recipe, run_trial, trial_key
from kiln.study._trial import RecipeError

HERE = Path(__file__).resolve().parent


def test_key_follows_recipe_config_and_version() -> None:
    recipe = Recipe.read(HERE / "tiny_recipe.py")
    key = trial_key(recipe, {"bits": 4}, "0.1.0")
    assert key == trial_key(recipe, {"bits": 4}, "0.1.0")
    assert key != trial_key(recipe, {"bits": 5}, "0.1.0")
    assert key != trial_key(recipe, {"bits": 4}, "0.2.0")
    edited = Recipe(recipe.path, recipe.text + "\n# edited\n", recipe.root)
    assert key != trial_key(edited, {"bits": 4}, "0.1.0")


def test_a_failing_trial_is_a_result(tmp_path: Path) -> None:
    result = run_trial(Recipe.read(HERE / "tiny_recipe.py"), {"fail": True}, tmp_path, "0")
    assert not result.ok
    assert result.error == "train: ValueError: this configuration fails on purpose (bits=4)"


def test_a_recipe_without_train_fails_its_trials(tmp_path: Path) -> None:
    file = tmp_path / "bad.py"
    file.write_text("def data():\n    return [], []\n")
    result = run_trial(Recipe.read(file), {}, tmp_path, "0")
    assert result.error is not None and "lacks train()" in result.error
    with pytest.raises(RecipeError, match="Cannot read"):
        Recipe.read(tmp_path / "missing.py")


def test_the_recipe_travels_as_text(tmp_path: Path) -> None:
    """A worker without the file (another machine) imports the shipped copy."""
    recipe = Recipe("/nowhere/tiny_recipe.py", (HERE / "tiny_recipe.py").read_text(),
                    str(tmp_path))
    assert callable(recipe.load(tmp_path / "scratch").train)
    assert (tmp_path / "scratch" / "tiny_recipe.py").is_file()


def test_key_follows_the_local_modules_the_recipe_imports(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    """A change to a helper module the recipe imports (directly or through another) makes
    new trials; installed packages and unrelated files do not."""
    (tmp_path / "helpers").mkdir()
    (tmp_path / "helpers" / "__init__.py").write_text("")
    (tmp_path / "helpers" / "loss.py").write_text("from helpers import scale\nT = 2\n")
    (tmp_path / "helpers" / "scale.py").write_text("S = 1\n")
    (tmp_path / "unrelated.py").write_text("U = 1\n")
    recipe = tmp_path / "recipe.py"
    recipe.write_text("import numpy as np\nfrom helpers.loss import T\n"
                      "def train(config): ...\ndef data(): ...\n")
    monkeypatch.chdir(tmp_path)

    def key() -> str:
        return trial_key(Recipe.read(recipe), {"bits": 4}, "1")

    first = key()
    (tmp_path / "unrelated.py").write_text("U = 2\n")
    assert key() == first
    (tmp_path / "helpers" / "scale.py").write_text("S = 2\n")
    second = key()
    assert second != first
    (tmp_path / "helpers" / "loss.py").write_text("from helpers import scale\nT = 3\n")
    assert key() not in (first, second)
