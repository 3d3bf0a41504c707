"""kiln.json: the manifest that makes an artifact directory the contract between stages."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kiln.errors import ArtifactError

MANIFEST = "kiln.json"
FORMAT_VERSION = 1


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree_digest(root: Path, relative: list[str]) -> str:
    """One hash over named files: the content key for a stage's output."""
    digest = hashlib.sha256()
    for name in sorted(relative):
        digest.update(name.encode() + b"\0" + (root / name).read_bytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class Manifest:
    """What an artifact holds; every later stage reads this and the files it lists."""

    name: str
    source_digest: str
    options_digest: str
    versions: dict[str, str]
    io_type: str
    reuse_factor: int
    input_shape: list[int]
    output_shape: list[int]
    input_type: str
    output_type: str
    latency: int
    ii: int
    framework: str
    reference_bit_exact: bool
    # How the framework lays out one sample: "channels_first" for PyTorch image models, whose
    # hardware input is channels-last (hls4ml's layout); the runtime accepts either.
    input_layout: str = "channels_last"
    files: dict[str, str] = field(default_factory=dict)  # relative path -> sha256
    hls_dir_built_at: str = ""
    format_version: int = FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    def write(self, root: Path) -> Path:
        path = root / MANIFEST
        path.write_text(self.to_json())
        return path

    @classmethod
    def read(cls, root: Path) -> Manifest:
        path = root / MANIFEST
        if not path.is_file():
            raise ArtifactError(
                f"{root} is not a kiln artifact: {MANIFEST} is missing. Create one with "
                "`kiln compile MODEL -o DIR`."
            )
        try:
            data: dict[str, Any] = json.loads(path.read_text())
            return cls(**data)
        except (json.JSONDecodeError, TypeError) as exc:
            raise ArtifactError(
                f"{path} is corrupt ({exc}); recompile with `kiln compile`"
            ) from exc

    def verify_files(self, root: Path) -> None:
        """Raise ArtifactError naming every listed file that is missing or changed."""
        problems = []
        for rel, expected in sorted(self.files.items()):
            path = root / rel
            if not path.is_file():
                problems.append(f"missing {rel}")
            elif file_digest(path) != expected:
                problems.append(f"changed {rel}")
        if problems:
            raise ArtifactError(
                f"Artifact {root} does not match its manifest: {'; '.join(problems[:8])}"
                f"{' ...' if len(problems) > 8 else ''}. Recompile with `kiln compile`."
            )
