"""BuildOptions: checked once when made, a digest that changes exactly when the options do,
and a round trip through to_dict/from_dict and the manifest."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from kiln.artifact import Manifest
from kiln.compiler import DEFAULT_CLOCK_PERIOD, DEFAULT_PART, BuildOptions
from kiln.errors import ArtifactError, InputShapeError, KilnError, PrecisionError


def test_defaults() -> None:
    options = BuildOptions()
    assert options.to_dict() == {
        "io_type": "io_parallel", "reuse_factor": 1, "precision": None,
        "input_precision": None, "part": DEFAULT_PART, "clock_period": DEFAULT_CLOCK_PERIOD,
        "input_shape": None, "board": None, "adder_levels": 2,
    }
    assert (options.default_reuse_factor, dict(options.layer_reuse_factors)) == (1, {})


@pytest.mark.parametrize("kwargs, error, message", [
    ({"io_type": "io_serial"}, KilnError,
     r"io_type must be 'io_parallel' or 'io_stream', not 'io_serial'"),
    ({"adder_levels": 0}, KilnError, r"adder_levels must be a whole number from 1 to 64"),
    ({"adder_levels": 2.5}, KilnError, r"adder_levels must be a whole number.*not 2.5"),
    ({"reuse_factor": 0}, KilnError, r"reuse_factor must be a positive integer, not 0"),
    ({"reuse_factor": True}, KilnError, r"reuse_factor must be a positive integer.*not True"),
    ({"reuse_factor": "2"}, KilnError, r"positive integer, 'auto' or a mapping .* not '2'"),
    ({"reuse_factor": {"fc1": -1}}, KilnError,
     r"reuse_factor\['fc1'\] must be a positive integer, not -1"),
    ({"reuse_factor": {}}, KilnError, r"name at least one layer"),
    ({"reuse_factor": {3: 1}}, KilnError, r"layer names must be non-empty strings, not 3"),
    ({"precision": "fixed<a,3>"}, PrecisionError, r"'fixed<a,3>'"),
    ({"input_precision": 16}, PrecisionError, r"input_precision must be a fixed-point type "
                                              r"such as 'fixed<16,6>', not 16"),
    ({"part": ""}, KilnError, r"part must be an FPGA part name such as 'xcvu9p"),
    ({"clock_period": 0}, KilnError, r"clock_period must be a positive number of ns .* not 0"),
    ({"clock_period": math.nan}, KilnError, r"clock_period .* not nan"),
    ({"clock_period": "5"}, KilnError, r"clock_period .* not '5'"),
    ({"input_shape": (8, None)}, InputShapeError,
     r"input_shape=\(8, None\) has dynamic or invalid dimension 1 \(None\)"),
    ({"input_shape": ()}, InputShapeError, r"input_shape is empty"),
    ({"input_shape": "64"}, InputShapeError, r"input_shape='64': give the sizes"),
])
def test_invalid_options_are_refused_quoting_the_value(
        kwargs: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        BuildOptions(**kwargs)


def test_values_are_normalised() -> None:
    options = BuildOptions(reuse_factor={"b": 1, "a": 1}, clock_period=5, input_shape=[1, 8, 8])
    assert list(options.layer_reuse_factors) == ["a", "b"]
    assert options.clock_period == 5.0 and isinstance(options.clock_period, float)
    assert options.input_shape == (1, 8, 8)
    assert BuildOptions(input_shape=64).input_shape == (64,)
    with pytest.raises(TypeError):
        options.layer_reuse_factors["a"] = 2  # type: ignore[index]


def test_reuse_factor_per_layer() -> None:
    options = BuildOptions(reuse_factor={"fc1": 1})
    assert (options.reuse_for("fc1"), options.reuse_for("fc2")) == (1, 1)
    assert options.default_reuse_factor == 1
    assert options.to_dict()["reuse_factor"] == {"fc1": 1}


def test_equal_options_give_equal_digests() -> None:
    assert BuildOptions().digest() == BuildOptions(io_type="io_parallel", reuse_factor=1,
                                                   part=DEFAULT_PART).digest()
    assert BuildOptions(clock_period=5).digest() == BuildOptions(clock_period=5.0).digest()
    assert (BuildOptions(reuse_factor={"a": 1, "b": 1}).digest()
            == BuildOptions(reuse_factor={"b": 1, "a": 1}).digest())
    assert BuildOptions(input_shape=64) == BuildOptions(input_shape=(64,))
    assert len({BuildOptions(), BuildOptions(), BuildOptions(io_type="io_stream")}) == 2


@pytest.mark.parametrize("kwargs", [
    {"io_type": "io_stream"}, {"reuse_factor": {"fc1": 1}}, {"precision": "fixed<16,6>"},
    {"input_precision": "fixed<8,2>"}, {"part": "xc7a35t"}, {"clock_period": 10.0},
    {"input_shape": (64,)}, {"input_shape": (1, 64)},
])
def test_different_options_give_different_digests(kwargs: dict[str, Any]) -> None:
    assert BuildOptions(**kwargs).digest() != BuildOptions().digest()
    assert BuildOptions(**kwargs) != BuildOptions()


ROUND_TRIP = [
    BuildOptions(),
    BuildOptions(io_type="io_stream", precision="fixed<16,6>", input_precision="fixed<8,2>"),
    BuildOptions(reuse_factor={"dense": 1}, part="xc7a35t", clock_period=8,
                 input_shape=(1, 8, 8)),
]


@pytest.mark.parametrize("options", ROUND_TRIP)
def test_round_trip_through_to_dict_and_json(options: BuildOptions) -> None:
    data = json.loads(json.dumps(options.to_dict()))
    again = BuildOptions.from_dict(data)
    assert again == options and again.digest() == options.digest()


def test_from_dict_refuses_unknown_keys() -> None:
    with pytest.raises(KilnError, match=r"Unknown build option\(s\) \['reuse'\]; known: "):
        BuildOptions.from_dict({"io_type": "io_parallel", "reuse": 2})


def _manifest(options: BuildOptions) -> Manifest:
    return Manifest(
        name="m", source_digest="0" * 64, options_digest=options.digest(), versions={},
        options=options.to_dict(), input_shape=[64], output_shape=[10],
        input_type="fixed<8,2>", output_type="fixed<16,6>", latency=5, ii=1,
        framework="qkeras", reference_bit_exact=False,
    )


@pytest.mark.parametrize("options", ROUND_TRIP)
def test_round_trip_through_the_manifest(options: BuildOptions, tmp_path: Path) -> None:
    _manifest(options).write(tmp_path)
    read = Manifest.read(tmp_path)
    assert read == _manifest(options)
    assert read.build_options() == options
    assert read.options_digest == read.build_options().digest()


def test_manifest_of_another_format_asks_for_a_recompile(tmp_path: Path) -> None:
    path = _manifest(BuildOptions()).write(tmp_path)
    data = json.loads(path.read_text())
    data["format_version"] = 1
    path.write_text(json.dumps(data))
    with pytest.raises(ArtifactError, match=r"format version 1; this kiln reads version 3\. "
                       r"Recompile with `kiln compile`"):
        Manifest.read(tmp_path)
