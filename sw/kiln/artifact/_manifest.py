"""kiln.json, the manifest that makes an artifact directory the contract between stages;
:class:`Artifact`, an artifact directory opened with its manifest and IR; and the lock that
serialises the processes that write one.

The manifest lists the SHA-256 of every file under ``model/``, ``hls/`` and ``rtl/``: the IR,
the HLS project with its headers and build script, the compiled C simulation and the Verilog,
i.e. everything a device executes. Loading checks both ways: every listed file must match, and
every file in those folders must be listed, so an edited manifest cannot switch checking off.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiln.errors import ArtifactError
from kiln.ir import Graph, graph_from_dict

if TYPE_CHECKING:
    from kiln.compiler import BuildOptions

log = logging.getLogger(__name__)

MANIFEST = "kiln.json"
IR_FILE = "model/kiln_ir.json"
#: The folders whose every file the manifest lists (sim/, reports/ and bitstream/ are derived).
COVERED = ("model", "hls", "rtl")
#: Files every artifact lists: without them nothing can run.
REQUIRED = (IR_FILE, "rtl/rtl.json", "rtl/files.f")
# 2: the build options recorded whole (``options``) instead of io_type and reuse_factor.
# 3: every file under model/, hls/ and rtl/ listed (the C simulation library included, built
#    relocatable, so ``hls_dir_built_at`` is gone); the kiln version checked on load.
FORMAT_VERSION = 3
#: How long a second writer waits for an artifact's lock before it gives up.
LOCK_TIMEOUT_S = 3600.0
_LOCK_POLL_S = 0.2
# Every field of a manifest, with its JSON type (a test checks it matches Manifest's fields).
_FIELD_TYPES: dict[str, type] = {
    "name": str, "source_digest": str, "options_digest": str, "versions": dict,
    "options": dict, "input_shape": list, "output_shape": list, "input_type": str,
    "output_type": str, "latency": int, "ii": int, "framework": str,
    "reference_bit_exact": bool, "input_layout": str, "files": dict, "format_version": int,
}


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _kiln_version() -> str:
    import kiln

    return kiln.__version__


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
    format_version: int = FORMAT_VERSION

    def build_options(self) -> BuildOptions:
        """The options the artifact was compiled with."""
        from kiln.compiler import BuildOptions

        return BuildOptions.from_dict(self.options)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    def write(self, root: Path) -> Path:
        """Write ``root/kiln.json`` (through a temporary file: a reader never sees half)."""
        path = root / MANIFEST
        tmp = root / f".{MANIFEST}.tmp-{os.getpid()}"
        tmp.write_text(self.to_json())
        os.replace(tmp, path)
        return path

    @classmethod
    def read(cls, root: Path) -> Manifest:
        """Read ``root/kiln.json``.

        Raises:
            ArtifactError: it is missing, unreadable, not UTF-8 JSON, not an object, of another
                format version, or a field is missing or of the wrong type.
        """
        path = root / MANIFEST
        if not path.is_file():
            raise ArtifactError(
                f"{root} is not a kiln artifact: {MANIFEST} is missing. Create one with "
                "`kiln compile MODEL -o DIR`."
            )
        try:
            data = json.loads(path.read_bytes().decode("utf-8"))
        except OSError as exc:
            raise ArtifactError(f"Cannot read {path} ({exc}); check its permissions") from exc
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ArtifactError(f"{path} is corrupt: not UTF-8 JSON ({exc}); recompile with "
                                "`kiln compile`") from exc
        if not isinstance(data, dict):
            raise ArtifactError(f"{path} is corrupt: a JSON {type(data).__name__}, not an "
                                "object; recompile with `kiln compile`")
        _check_format(path, data.get("format_version"))
        _check_fields(path, data)
        return cls(**data)

    def verify_files(self, root: Path) -> None:
        """Raise ArtifactError naming every listed file that is missing or changed and every
        file under model/, hls/ or rtl/ that is not listed."""
        if not self.files:
            raise ArtifactError(f"{root / MANIFEST} lists no files, so nothing in {root} could "
                                "be checked; recompile with `kiln compile`")
        problems = [f"{rel} not listed" for rel in REQUIRED if rel not in self.files]
        for rel, expected in sorted(self.files.items()):
            path = root / rel
            if not path.is_file():
                problems.append(f"missing {rel}")
            elif file_digest(path) != expected:
                problems.append(f"changed {rel}")
        present = {str(p.relative_to(root)) for folder in COVERED
                   for p in (root / folder).rglob("*") if p.is_file() or p.is_symlink()}
        problems += [f"unlisted {rel}" for rel in sorted(present - set(self.files))]
        if problems:
            raise ArtifactError(
                f"Artifact {root} does not match its manifest: {'; '.join(problems[:8])}"
                f"{' ...' if len(problems) > 8 else ''}. Recompile with `kiln compile`."
            )

    def check_versions(self, root: Path) -> None:
        """Refuse an artifact another kiln built; log the other tools that differ.

        The devices execute kiln's reading of the IR (``cpu``/``cuda``) and files the manifest
        checks (the C simulation library, the Verilog), so only kiln's own version must match.
        The other tools built the artifact: ``kiln compile`` rebuilds when they changed, and
        the emulator's cache key holds the Verilator version (a new one rebuilds it, logged).

        Raises:
            ArtifactError: the artifact was built by another version of kiln.
        """
        ours = _kiln_version()
        built = self.versions.get("kiln")
        if built != ours:
            raise ArtifactError(
                f"{root} was built by kiln {built}; this is kiln {ours}, whose reading of the "
                "IR may differ. Recompile it with this kiln (`kiln compile MODEL -o "
                f"{root} --force`).")


def _check_format(path: Path, version: Any) -> None:
    if version == FORMAT_VERSION:
        return
    if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
        raise ArtifactError(
            f"{path} has format version {version}, newer than this kiln ({_kiln_version()}) "
            f"reads (version {FORMAT_VERSION}): upgrade kiln, or recompile the model with "
            "this one (`kiln compile`).")
    raise ArtifactError(f"{path} has format version {version!r}; this kiln reads version "
                        f"{FORMAT_VERSION}. Recompile with `kiln compile`.")


def _check_fields(path: Path, data: dict[str, Any]) -> None:
    missing = sorted(set(_FIELD_TYPES) - set(data))   # all of them, ``files`` included
    unknown = sorted(set(data) - set(_FIELD_TYPES))
    wrong = [f"{key} is a {type(value).__name__}" for key, value in data.items()
             if key in _FIELD_TYPES and (not isinstance(value, _FIELD_TYPES[key])
                                         or (isinstance(value, bool)
                                             and _FIELD_TYPES[key] is int))]
    for key in ("files", "versions"):
        value = data.get(key)
        if isinstance(value, dict) and not all(isinstance(k, str) and isinstance(v, str)
                                               for k, v in value.items()):
            wrong.append(f"{key} maps something other than text to text")
    problems = ([f"missing {', '.join(missing)}"] if missing else []) + \
        ([f"unknown {', '.join(unknown)}"] if unknown else []) + wrong
    if problems:
        raise ArtifactError(f"{path} is corrupt: {'; '.join(problems)}. Recompile with "
                            "`kiln compile`.")


@dataclass(frozen=True)
class Artifact:
    """A compiled model on disk: its directory, manifest and IR."""

    path: Path
    manifest: Manifest
    graph: Graph

    @classmethod
    def open(cls, path: str | Path, check: bool = True) -> Artifact:
        """Read ``path``'s manifest and IR; with ``check``, every file's hash and the kiln
        version too (:meth:`Manifest.verify_files`, :meth:`Manifest.check_versions`).

        Raises:
            ArtifactError: the artifact is incomplete, changed, or from another kiln.
        """
        root = Path(path)
        manifest = Manifest.read(root)
        if check:
            manifest.verify_files(root)
            manifest.check_versions(root)
        try:
            graph = graph_from_dict(json.loads((root / IR_FILE).read_text()))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ArtifactError(f"Cannot read the IR {root / IR_FILE} ({exc}); recompile with "
                                "`kiln compile`") from exc
        return cls(root, manifest, graph)


def lock_path(root: Path) -> Path:
    """The lock file of the artifact ``root``: a hidden sibling, so that it outlives renames of
    ``root`` itself."""
    return root.parent / f".{root.name}.lock"


@contextmanager
def artifact_lock(root: Path, what: str, timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold the artifact ``root``'s lock (``fcntl.flock`` on :func:`lock_path`) while writing
    it. A second holder waits, saying so in the log, for at most ``timeout_s``.

    Raises:
        ArtifactError: the lock file cannot be created (a read-only folder), or another
            process held the lock for ``timeout_s``.
    """
    lock = lock_path(root)
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise ArtifactError(
            f"Cannot {what}: the lock file {lock} cannot be created ({exc.strerror}). Make "
            f"{lock.parent} writable, or use a folder you may write to.") from exc
    try:
        _acquire(fd, lock, what, timeout_s)
        yield
    finally:
        os.close(fd)   # closing releases the lock


def _acquire(fd: int, lock: Path, what: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    waited = False
    pause = threading.Event()   # never set: a timed wait between attempts (flock cannot time out)
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise ArtifactError(
                    f"Cannot {what}: another kiln process has held {lock} for {timeout_s:g} "
                    "s. Wait for it to finish, or stop it; a lock whose process died is "
                    "released by itself.") from None
            if not waited:
                log.info("%s: waiting for another kiln process that holds %s ...", what, lock)
                waited = True
            pause.wait(min(_LOCK_POLL_S, max(deadline - time.monotonic(), 0.0)))
            continue
        if waited:
            log.info("%s: got %s", what, lock)
        return
