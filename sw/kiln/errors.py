"""kiln's exception types. Every error kiln raises on purpose is a :class:`KilnError`."""

from __future__ import annotations

__all__ = [
    "KilnError",
    "UnsupportedLayerError",
    "PrecisionError",
    "ModelLoadError",
    "InputShapeError",
    "ToolMissingError",
    "ToolFailedError",
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


class ToolFailedError(KilnError):
    """An external tool ran and failed; the message has the tail of its output.

    Attributes:
        output: everything the tool wrote (stdout and stderr together).
    """

    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(message)
        self.output = output


class ArtifactError(KilnError):
    """An artifact directory that is missing files or does not match its manifest."""


class DeviceError(KilnError):
    """A device that is unknown or not present."""
