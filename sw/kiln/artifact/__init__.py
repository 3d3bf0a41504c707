"""The artifact directory: manifest, content hashes and the compile pipeline that writes it."""

from __future__ import annotations

from kiln.artifact._compile import (
    IR_FILE,
    SOURCE_FILE,
    TORCH_SOURCE_FILE,
    Artifact,
    compile_model,
)
from kiln.artifact._manifest import MANIFEST, Manifest, file_digest, tree_digest

__all__ = ["IR_FILE", "MANIFEST", "SOURCE_FILE", "TORCH_SOURCE_FILE", "Artifact", "Manifest",
           "compile_model", "file_digest", "tree_digest"]
