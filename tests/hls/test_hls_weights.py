"""kiln.hls._weights: hls4ml's weight headers rewritten so that g++ builds the C simulation in
seconds hold the same bits as hls4ml's, keep hls4ml's definition for synthesis, and anything
of an unexpected form is left as written and logged.

The headers are written by hls4ml's own writer (``VivadoWriter.print_array_to_cpp``, as
``WriteWeightsTxt=False`` writes them) for every weight type hls4ml writes as a plain array:
ap_fixed and ap_ufixed with their modes, wider than a double's 53 bits, fewer fractional than
integer bits (int literals), ap_int, ap_uint, a 1-bit zero bias, a binary (xnor) kernel and a
namespaced header.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kiln.hls._weights import MARKER, rewrite_weight_headers

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++")


def _hls_dir() -> Path:
    import hls4ml

    return Path(hls4ml.__file__).parent / "templates" / "vivado"


def _cases() -> list[tuple[Any, np.ndarray, str | None]]:
    """(hls4ml precision, weights, namespace) per header; seeded random weights, many of them
    off the type's grid or out of its range, so the constructors round, wrap and saturate."""
    from hls4ml.model.types import FixedPrecisionType as Fixed
    from hls4ml.model.types import IntegerPrecisionType as Int
    from hls4ml.model.types import XnorPrecisionType

    rng = np.random.default_rng(13)
    return [
        (Fixed(6, 1), rng.integers(-32, 32, size=(8, 6)) / 32, None),  # the LeNet's kind
        (Fixed(8, 3, rounding_mode="RND", saturation_mode="SAT"), rng.uniform(-6, 6, 40), None),
        (Fixed(8, 0, signed=False), rng.uniform(-0.2, 1.2, 40), None),  # ap_ufixed, wraps
        (Fixed(64, 8), rng.uniform(-100, 100, 40), None),  # 56 decimals: past a double
        (Fixed(80, 20, rounding_mode="RND_CONV", saturation_mode="SAT_SYM"),
         rng.uniform(-1e6, 1e6, 40), None),
        (Fixed(4, 6), rng.integers(-40, 40, 40).astype(float), None),  # int literals
        (Int(8), rng.integers(-200, 200, 40).astype(float), None),  # ap_int, wraps
        (Int(4, signed=False), rng.integers(0, 20, 40).astype(float), None),  # ap_uint
        (Int(1, signed=False), np.zeros(6), None),  # hls4ml's zero_bias
        (XnorPrecisionType(), rng.integers(0, 2, 40).astype(float), None),  # binary kernel
        (Fixed(6, 1), rng.integers(-32, 32, 20) / 32, "kiln_ns"),  # writer's Namespace
    ]


def _write(var_name: str, type_name: str, precision: Any, data: np.ndarray, project: Path,
           namespace: str | None = None, write_txt_file: bool = False) -> str:
    """Write one weight header with hls4ml's writer; return the typedef line for defines.h."""
    from hls4ml.backends.fpga.fpga_types import (
        APTypeConverter,
        HLSTypeConverter,
        StaticWeightVariableConverter,
    )
    from hls4ml.model.types import WeightVariable
    from hls4ml.writer.vivado_writer import VivadoWriter

    var = WeightVariable(var_name, type_name, precision, data)
    var = StaticWeightVariableConverter(HLSTypeConverter(APTypeConverter())).convert(var)
    (project / "firmware" / "weights").mkdir(parents=True, exist_ok=True)
    VivadoWriter().print_array_to_cpp(var, str(project), namespace=namespace,
                                      write_txt_file=write_txt_file)
    return str(var.type.definition_cpp())


def _project(root: Path) -> tuple[Path, list[tuple[str, int, str | None]]]:
    """An hls4ml-style project with the cases' headers and their typedefs in defines.h."""
    typedefs, arrays = [], []
    for k, (precision, data, namespace) in enumerate(_cases()):
        typedefs.append(_write(f"w{k}", f"case{k}_t", precision, data, root, namespace))
        arrays.append((f"w{k}", data.size, namespace))
    (root / "firmware" / "defines.h").write_text("".join(typedefs))
    return root, arrays


def _codes(project: Path, original: Path, arrays: list[tuple[str, int, str | None]],
           tmp: Path) -> dict[str, tuple[list[int], list[int]]]:
    """Every element's bits (``.range()``) from hls4ml's header and from the rewritten one,
    both compiled into one program with the flags of hls4ml's build_lib.sh."""
    lines = ['#include "ap_fixed.h"', '#include "ap_int.h"', "#include <cstdio>",
             "#include <string>", f'#include "{project}/firmware/defines.h"',
             "template <class T> std::string bits(const T& v) { return v.range().to_string(16); }"]
    body = []
    for name, size, namespace in arrays:
        qualified = f"{namespace}::{name}" if namespace else name
        for space, folder in (("hls4ml_header", original), ("kiln_header", project / "firmware"
                                                                / "weights")):
            lines += [f"#undef {name.upper()}_H_", f"namespace {space} {{",
                      f'#include "{folder}/{name}.h"', "}"]
        body.append(f'for (int i = 0; i < {size}; i++) std::printf("{name} %s %s\\n", '
                    f"bits(hls4ml_header::{qualified}[i]).c_str(), "
                    f"bits(kiln_header::{qualified}[i]).c_str());")
    lines += ["int main() {", *body, "return 0;", "}"]
    source = tmp / "compare.cpp"
    source.write_text("\n".join(lines) + "\n")
    binary = tmp / "compare"
    subprocess.run(["g++", "-O3", "-std=c++11", f"-I{_hls_dir() / 'ap_types'}", str(source),
                    "-o", str(binary)], check=True, capture_output=True, text=True)
    out = subprocess.run([str(binary)], check=True, capture_output=True, text=True).stdout
    codes: dict[str, tuple[list[int], list[int]]] = {name: ([], []) for name, _, _ in arrays}
    for line in out.splitlines():
        name, theirs, ours = line.split()
        codes[name][0].append(int(theirs, 16))
        codes[name][1].append(int(ours, 16))
    return codes


def test_rewritten_headers_hold_hls4mls_bits(tmp_path: Path) -> None:
    project, arrays = _project(tmp_path / "prj")
    original = tmp_path / "hls4ml_weights"
    shutil.copytree(project / "firmware" / "weights", original)
    done = rewrite_weight_headers(project)
    assert sorted(done.rewritten) == sorted(f"{name}.h" for name, _, _ in arrays)
    assert not done.left
    codes = _codes(project, original, arrays, tmp_path)
    for name, size, _ in arrays:
        theirs, ours = codes[name]
        assert len(theirs) == len(ours) == size, name
        differ = sum(a != b for a, b in zip(ours, theirs, strict=True))
        assert ours == theirs, f"{name}: {differ} of {size} elements differ"
    # not all zeros: the arrays really were filled (the zero bias aside)
    assert all(any(codes[name][1]) for name, _, _ in arrays if name != "w8")


def _preprocessed(header: Path, *defines: str) -> str:
    return subprocess.run(["g++", "-E", "-P", "-x", "c++", *defines, str(header)], check=True,
                          capture_output=True, text=True).stdout


def test_synthesis_sees_hls4mls_definition(tmp_path: Path) -> None:
    project, arrays = _project(tmp_path / "prj")
    original = tmp_path / "hls4ml_weights"
    shutil.copytree(project / "firmware" / "weights", original)
    rewrite_weight_headers(project)
    for name, _, _ in arrays:
        ours, theirs = project / "firmware" / "weights" / f"{name}.h", original / f"{name}.h"
        assert _preprocessed(ours, "-D__SYNTHESIS__") == _preprocessed(theirs, "-D__SYNTHESIS__")
        assert _preprocessed(ours) != _preprocessed(theirs)  # the C simulation's is rewritten


def test_rewriting_again_changes_nothing(tmp_path: Path) -> None:
    project, arrays = _project(tmp_path / "prj")
    rewrite_weight_headers(project)
    before = {p.name: p.read_text() for p in (project / "firmware" / "weights").iterdir()}
    again = rewrite_weight_headers(project)
    assert (again.rewritten, again.left) == ([], {})
    assert sorted(again.already) == sorted(before)
    assert {p.name: p.read_text() for p in (project / "firmware" / "weights").iterdir()} == before


def test_unexpected_headers_are_left_as_written_and_logged(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from hls4ml.model.types import FixedPrecisionType, IntegerPrecisionType

    project = tmp_path / "prj"
    typedefs = [
        # ints past int: the literals are longs, not the int the rewrite would carry them in
        _write("w0", "wide_int_t", IntegerPrecisionType(40), np.array([3.0e9, -1.0]), project),
        # hls4ml's own __SYNTHESIS__ split (WriteWeightsTxt on)
        _write("w1", "txt_t", FixedPrecisionType(6, 1), np.array([0.5, -0.25]), project,
               write_txt_file=True),
        _write("w2", "missing_t", FixedPrecisionType(6, 1), np.array([0.5]), project),
        "typedef float float_t;\n",
        _write("w4", "ok_t", FixedPrecisionType(6, 1), np.array([0.5, -0.25]), project),
    ]
    typedefs[2] = ""  # w2's type is not in defines.h
    (project / "firmware" / "defines.h").write_text("".join(typedefs))
    weights = project / "firmware" / "weights"
    float_header = (weights / "w4.h").read_text().replace("ok_t", "float_t")
    (weights / "w3.h").write_text(float_header)
    # a struct initializer, as hls4ml writes po2 (exponent) and compressed weights
    (weights / "w5.h").write_text(re.sub(r"\{.*\}", "{{1, 2}, {0, -1}}",
                                         (weights / "w4.h").read_text()))
    before = {p.name: p.read_text() for p in weights.iterdir()}
    with caplog.at_level(logging.WARNING, logger="kiln.hls._weights"):
        done = rewrite_weight_headers(project)
    assert done.rewritten == ["w4.h"]
    assert sorted(done.left) == ["w0.h", "w1.h", "w2.h", "w3.h", "w5.h"]
    assert "not all decimal or all int literals" in done.left["w0.h"]
    assert "__SYNTHESIS__" in done.left["w1.h"]
    assert "not a typedef in defines.h" in done.left["w2.h"]
    assert "is float" in done.left["w3.h"]
    assert "0 array definitions" in done.left["w5.h"]
    for name in done.left:
        assert (weights / name).read_text() == before[name]
        assert any(name in record.getMessage() for record in caplog.records), name
    assert MARKER in (weights / "w4.h").read_text()


def test_a_project_without_weights_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "firmware").mkdir()
    done = rewrite_weight_headers(tmp_path)
    assert (done.rewritten, done.already, done.left) == ([], [], {})
