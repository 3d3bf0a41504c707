"""The artifact directory, the contract between stages: the manifest (kiln.json) with its
content hashes, and the hardware contract of ``kiln_top`` (rtl/: files.f, rtl.json, beat
packing, the link wire format). It sits below every stage: rtl writes the contract; sim,
flows and runtime read it."""

from __future__ import annotations

from kiln.artifact._beats import (
    OnOverflow,
    as_input_codes,
    beat_bytes,
    check_codes,
    code_range,
    pack_beats,
    pack_samples,
    unpack_beats,
    unpack_samples,
)
from kiln.artifact._manifest import (
    COVERED,
    FORMAT_VERSION,
    IR_FILE,
    LOCK_TIMEOUT_S,
    MANIFEST,
    Artifact,
    Manifest,
    artifact_lock,
    file_digest,
    lock_path,
)
from kiln.artifact._top import (
    FILE_LIST,
    META_FILE,
    TOP,
    TopContract,
    TopSources,
    content_digest,
    write_top,
)
from kiln.artifact._wire import (
    DEFAULT_BAUD,
    MAX_IN_FLIGHT,
    UART_SOURCES,
    UART_TOP,
    WireFormat,
)

__all__ = [
    "COVERED",
    "FORMAT_VERSION",
    "LOCK_TIMEOUT_S",
    "Artifact",
    "DEFAULT_BAUD",
    "FILE_LIST",
    "IR_FILE",
    "MANIFEST",
    "MAX_IN_FLIGHT",
    "META_FILE",
    "Manifest",
    "OnOverflow",
    "TOP",
    "TopContract",
    "TopSources",
    "UART_SOURCES",
    "UART_TOP",
    "WireFormat",
    "artifact_lock",
    "as_input_codes",
    "beat_bytes",
    "check_codes",
    "code_range",
    "content_digest",
    "file_digest",
    "lock_path",
    "pack_beats",
    "pack_samples",
    "unpack_beats",
    "unpack_samples",
    "write_top",
]
