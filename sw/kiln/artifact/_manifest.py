"""kiln.json, the manifest that makes an artifact directory the contract between stages, and
:class:`Artifact`, an artifact directory opened with its manifest and IR."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiln.errors import ArtifactError
from kiln.ir import Graph, graph_from_dict

if TYPE_CHECKING:
    from kiln.compiler import BuildOptions

MANIFEST = "kiln.json"
IR_FILE = "model/kiln_ir.json"
# 2: the build options recorded whole (``options``) instead of io_type and reuse_factor.
FORMAT_VERSION = 2


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class Manifest:
    """What an artifact holds; every later stage reads this and the files it lists."""

    name: str
    source_digest: str
    options_digest: str
    versions: dict[str, str]
    options: dict[str, Any]  # BuildOptions.to_dict(); read back with build_options()
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

    def build_options(self) -> BuildOptions:
        """The options the artifact was compiled with."""
        from kiln.compiler import BuildOptions

        return BuildOptions.from_dict(self.options)

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
            version = data.get("format_version")
            if version != FORMAT_VERSION:
                raise ArtifactError(
                    f"{path} has format version {version!r}; this kiln reads version "
                    f"{FORMAT_VERSION}. Recompile with `kiln compile`."
                )
            return cls(**data)
        except (json.JSONDecodeError, TypeError, AttributeError) as exc:
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


@dataclass(frozen=True)
class Artifact:
    """A compiled model on disk: its directory, manifest and IR."""

    path: Path
    manifest: Manifest
    graph: Graph

    @classmethod
    def open(cls, path: str | Path, check: bool = True) -> Artifact:
        """Read ``path``'s manifest and IR; with ``check``, every listed file's hash too."""
        root = Path(path)
        manifest = Manifest.read(root)
        if check:
            manifest.verify_files(root)
        graph = graph_from_dict(json.loads((root / IR_FILE).read_text()))
        return cls(root, manifest, graph)
