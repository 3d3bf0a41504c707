"""One trial: train a recipe's model for one configuration, compile it, verify the RTL bit
for bit on a sample, and measure accuracy, resources, latency and II."""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
import logging
import sys
import time
import traceback
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from kiln.errors import KilnError

log = logging.getLogger(__name__)

#: Configuration keys that go to kiln.compile, not to the recipe.
COMPILE_KEYS = ("reuse_factor", "io_type", "adder_levels", "precision", "input_precision",
                "clock_period", "part", "board")

#: Samples verified bit for bit (RTL against HLS C simulation, kiln.fixed and the model).
VERIFY_SAMPLES = 300


class RecipeError(KilnError):
    """A recipe file that cannot be read or lacks ``train(config)`` / ``data()``."""


@dataclass(frozen=True)
class Recipe:
    """A recipe file's path and content (the content travels to Ray workers, so a worker
    on another machine needs no copy of the file; imports of sibling modules resolve under
    ``root``, the driver's working directory, when the worker has it)."""

    path: str
    text: str
    root: str
    imports: str = ""  # the digest of the local modules it imports (see local_imports)

    @classmethod
    def read(cls, path: str | Path) -> Recipe:
        file = Path(path)
        try:
            text = file.read_text()
        except OSError as exc:
            raise RecipeError(f"Cannot read the recipe {file}: {exc.strerror}") from exc
        root = Path.cwd()
        sources = local_imports(text, (root, file.resolve().parent))
        blob = "".join(f"{name}\0{source}\0" for name, source in sorted(sources.items()))
        return cls(str(file.resolve()), text, str(root),
                   hashlib.sha256(blob.encode()).hexdigest())

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    @property
    def name(self) -> str:
        return Path(self.path).stem

    def load(self, scratch: Path) -> ModuleType:
        """Import the recipe: from its path when that file still holds this content, else
        from a copy written to ``scratch``."""
        file = Path(self.path)
        if not (file.is_file() and file.read_text() == self.text):
            file = scratch / f"{self.name}.py"
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(self.text)
        for entry in (self.root, str(Path(self.path).parent)):
            if entry not in sys.path:
                sys.path.append(entry)
        spec = importlib.util.spec_from_file_location(f"kiln_recipe_{self.digest[:12]}", file)
        if spec is None or spec.loader is None:
            raise RecipeError(f"Cannot import the recipe {self.path}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        missing = [f for f in ("train", "data") if not callable(getattr(module, f, None))]
        if missing:
            raise RecipeError(f"The recipe {self.path} lacks {' and '.join(missing)}(); a "
                              "recipe defines train(config) -> model and data() -> (x, y)")
        return module


def local_imports(text: str, roots: tuple[Path, ...]) -> dict[str, str]:
    """The source of every module ``text`` imports, directly or through another, that is a
    file under one of ``roots`` (the recipe's helpers, such as ``models/compress.py``):
    a change to one of them must not let a cached trial stand for the new code. Installed
    packages are left to their versions."""
    found: dict[str, str] = {}
    pending = [text]
    while pending:
        for node in ast.walk(ast.parse(pending.pop())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            else:
                continue
            for name in names:
                stem = name.replace(".", "/")
                for root in roots:
                    for file in (root / f"{stem}.py", root / stem / "__init__.py"):
                        key = str(file.resolve())
                        if key not in found and file.is_file():
                            found[key] = file.read_text()
                            pending.append(found[key])
    return found


def trial_key(recipe: Recipe, config: Mapping[str, Any], version: str) -> str:
    """The content hash that names a trial: the recipe's text and the local modules it
    imports, the configuration and the kiln version."""
    blob = json.dumps({"recipe": recipe.digest, "imports": recipe.imports,
                       "config": dict(config), "kiln": version},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class TrialResult:
    """What one trial measured, or the error that stopped it.

    Accuracies are on the recipe's whole test set: ``accuracy`` of the framework model (the
    artifact's reference device), ``accuracy_fixed`` of kiln.fixed (what the RTL computes).
    ``bit_exact`` is the verification of ``verified_samples`` test samples: RTL against the
    HLS C simulation, kiln.fixed, Icarus and (where its quantizers define every type) the
    framework model. Resources are kiln's estimate (``reports/fit.json``).
    """

    key: str
    config: dict[str, Any]
    status: str                        # "ok" or "error"
    error: str | None = None
    accuracy: float | None = None
    accuracy_fixed: float | None = None
    bit_exact: bool | None = None
    verified_samples: int = 0
    lut4: int | None = None
    lut6: int | None = None
    ff: int | None = None
    dsp: int | None = None
    bram: int | None = None
    latency: int | None = None
    ii: int | None = None
    artifact: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrialResult:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def _accuracy(runtime: Any, x: Any, y: Any, device: str) -> float:
    out = runtime.predict(x, device=device)
    return float((out.reshape(len(out), -1).argmax(axis=1) == np.asarray(y).reshape(-1)).mean())


def _resources(root: Path, runtime: Any) -> dict[str, int]:
    """The artifact's resource estimate: reports/fit.json, else kiln.rtl's estimate."""
    fit = root / "reports" / "fit.json"
    if fit.is_file():
        total: dict[str, int] = json.loads(fit.read_text())["estimate"]["total"]
        return total
    from kiln.rtl import estimate

    return estimate(runtime.graph)["total"].to_dict()


def run_trial(recipe: Recipe, config: Mapping[str, Any], cache: str | Path, version: str,
              samples: int = VERIFY_SAMPLES) -> TrialResult:
    """Train, compile into ``cache/<key>/artifact``, verify and measure one configuration.

    Never raises for a failing recipe, compile or verification: the result records the
    error, so one bad point does not end a study.
    """
    key = trial_key(recipe, config, version)
    folder = Path(cache) / key
    compile_options = {k: v for k, v in config.items() if k in COMPILE_KEYS}
    recipe_config = {k: v for k, v in config.items() if k not in COMPILE_KEYS}
    seconds: dict[str, float] = {}
    stage = "load the recipe"
    try:
        start = time.perf_counter()
        module = recipe.load(folder / "recipe")
        stage = "train"
        model = module.train(recipe_config)
        x, y = module.data()
        seconds["train"] = time.perf_counter() - start

        import kiln
        from kiln.verify import verify

        stage = "compile"
        start = time.perf_counter()
        artifact = kiln.compile(model, folder / "artifact", name=recipe.name, **compile_options)
        seconds["compile"] = time.perf_counter() - start

        stage = "verify"
        start = time.perf_counter()
        report = verify(folder / "artifact", x=x[:samples], labels=y[:samples], protocol=False)
        seconds["verify"] = time.perf_counter() - start

        stage = "measure"
        start = time.perf_counter()
        runtime = kiln.load(folder / "artifact")
        accuracy = _accuracy(runtime, x, y, "reference")
        accuracy_fixed = _accuracy(runtime, x, y, "cpu")
        total = _resources(folder / "artifact", runtime)
        seconds["measure"] = time.perf_counter() - start
        manifest = artifact.manifest
        return TrialResult(
            key=key, config=dict(config), status="ok", accuracy=accuracy,
            accuracy_fixed=accuracy_fixed, bit_exact=report.passed,
            verified_samples=report.samples, lut4=total["LUT4"], lut6=total["LUT6"],
            ff=total["FF"], dsp=total["DSP"], bram=total["BRAM18"], latency=manifest.latency,
            ii=manifest.ii, artifact=str(folder / "artifact"),
            seconds={k: round(v, 2) for k, v in seconds.items()})
    except Exception as exc:  # a trial's failure is data, not the end of the study
        tail = "".join(traceback.format_exception(exc)[-3:]).strip()
        log.debug("trial %s failed in %s:\n%s", key, stage, tail)
        return TrialResult(key=key, config=dict(config), status="error",
                           error=f"{stage}: {type(exc).__name__}: {exc}",
                           seconds={k: round(v, 2) for k, v in seconds.items()})
