"""kiln's exception types. Every error kiln raises on purpose is a :class:`KilnError`."""

from __future__ import annotations

__all__ = [
    "KilnError",
    "UnsupportedLayerError",
    "PrecisionError",
    "ModelLoadError",
    "InputShapeError",
    "ToolMissingError",
    "ArtifactError",
    "DeviceError",
]


class KilnError(Exception):
    """Base class: the message says what went wrong, where, and how to fix it."""


class UnsupportedLayerError(KilnError):
    """A layer kiln cannot build (names the layer, its type and what is supported)."""


class PrecisionError(KilnError):
    """A fixed-point type that is impossible, missing, or not representable exactly."""


class ModelLoadError(KilnError):
    """A model file that is missing, corrupt, or not a quantized model kiln can read."""


class InputShapeError(KilnError):
    """Inputs whose shape or dtype do not match the model."""


class ToolMissingError(KilnError):
    """An external tool (verilator, iverilog, g++, vivado, ...) is not installed."""


class ArtifactError(KilnError):
    """An artifact directory that is missing files or does not match its manifest."""


class DeviceError(KilnError):
    """A device that is unknown or not present."""
