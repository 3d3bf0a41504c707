"""Weight headers that g++ compiles in seconds: hls4ml's ``firmware/weights/*.h`` rewritten so
that the C simulation fills each array from plain literals when the library loads.

hls4ml writes each weight tensor as ``wN_t wN[400000] = {0.96875, -0.5, ...};``. An array of
``ap_fixed`` built by an initializer list costs g++ one inlined constructor per element, and
its time grows faster than the array (the LeNet's 400,000 weights ran 37 minutes at 4 GB and
did not finish). A ``static const double`` (or ``int``) array of the same literals compiles in
about a second; a load-time loop then constructs every element from its literal, exactly as
the initializer list would: the literal is the same token, so it becomes the same ``double``
(or ``int``), and ``T(x)`` is the converting constructor that copy-initialization calls. The
bits are therefore those of hls4ml's header for every width, even past 53 bits.

Under ``__SYNTHESIS__`` the header keeps hls4ml's definition line unchanged, so vendor HLS
synthesis sees exactly what hls4ml wrote. Anything not of the expected form (another element
type, a struct initializer, a header already split by ``WriteWeightsTxt``) is left as written
and logged: nothing is ever mis-converted.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

MARKER = "// kiln: C simulation fills this array at load time"
# hls4ml 1.3.0 vivado_writer.print_array_to_cpp with write_txt_file=False: one definition line.
_DEFINITION = re.compile(r"^(?P<type>[A-Za-z_]\w*) (?P<name>[A-Za-z_]\w*)\[(?P<length>\d+)\]"
                         r" = \{(?P<values>[^{}]*)\};$", re.MULTILINE)
_TYPEDEF = re.compile(r"^typedef (?P<definition>[^;]+) (?P<name>[A-Za-z_]\w*);$", re.MULTILINE)
# The element types whose constructors from double and int kiln relies on.
_AP_TYPE = re.compile(r"^ap_u?(?:fixed|int)<[^<>]+>$")
_FLOAT_LITERAL = re.compile(r"^-?\d+\.\d+$")  # what '{:.Nf}' writes for N > 0
_INT_LITERAL = re.compile(r"^-?\d+$")  # what '{:.0f}' writes
_INT_MAX = 2**31 - 1  # beyond it the literal is a long, not an int


@dataclass
class HeaderRewrite:
    """What ``rewrite_weight_headers`` did to one project."""

    rewritten: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    left: dict[str, str] = field(default_factory=dict)  # header name -> why it was left


def rewrite_weight_headers(hls_dir: Path) -> HeaderRewrite:
    """Rewrite every weight header of the hls4ml project in ``hls_dir`` (see the module doc).

    Headers rewritten before are recognised and kept; headers of an unexpected form are left
    as hls4ml wrote them, each logged with the reason.
    """
    result = HeaderRewrite()
    weights_dir = hls_dir / "firmware" / "weights"
    if not weights_dir.is_dir():
        return result
    typedefs = _typedefs(hls_dir / "firmware" / "defines.h")
    for header in sorted(weights_dir.glob("*.h")):
        text = header.read_text()
        if MARKER in text:
            result.already.append(header.name)
            continue
        new_text, reason = rewrite_header(text, typedefs)
        if new_text is None:
            result.left[header.name] = reason
            log.warning("hls4ml weight header %s left as written (%s); g++ may take long on it",
                        header, reason)
            continue
        header.write_text(new_text)
        result.rewritten.append(header.name)
    log.info("hls4ml weight headers: %d rewritten for a fast C simulation build, %d already, "
             "%d left as written", len(result.rewritten), len(result.already), len(result.left))
    return result


def rewrite_header(text: str, typedefs: dict[str, str]) -> tuple[str | None, str]:
    """The header ``text`` with its array filled at load time in the C simulation, or None and
    the reason it was left alone. ``typedefs`` maps type names to their definitions."""
    if "__SYNTHESIS__" in text:
        return None, "it already has a __SYNTHESIS__ branch (written with WriteWeightsTxt?)"
    definitions = list(_DEFINITION.finditer(text))
    if len(definitions) != 1:
        return None, f"{len(definitions)} array definitions of the expected form, not 1"
    match = definitions[0]
    type_name, name, length = match["type"], match["name"], int(match["length"])
    element = _resolve(type_name, typedefs)
    if element is None or not _AP_TYPE.match(element):
        return None, f"element type {type_name} is {element or 'not a typedef in defines.h'}, " \
                     "not ap_fixed, ap_ufixed, ap_int or ap_uint"
    literals = match["values"].split(", ")
    if len(literals) != length:
        return None, f"{len(literals)} initializers for {length} elements"
    carrier = _carrier(literals)
    if carrier is None:
        return None, "initializers that are not all decimal or all int literals"
    fill = (
        "#ifndef __SYNTHESIS__\n"
        f"{MARKER} (kiln.hls._weights): g++ compiles a\n"
        "// builtin array of hls4ml's literals in seconds, a large initializer list of ap types\n"
        "// in minutes to hours. T(literal) is the conversion that list makes: the same bits.\n"
        f"static const {carrier} kiln_{name}_literals[{length}] = {{{match['values']}}};\n"
        f"{type_name} {name}[{length}];\n"
        f"static const bool kiln_{name}_filled = [] {{\n"
        f"    for (unsigned long i = 0; i < {length}UL; i++) {{\n"
        f"        {name}[i] = {type_name}(kiln_{name}_literals[i]);\n"
        "    }\n"
        "    return true;\n"
        "}();\n"
        "#else\n"
        f"{match[0]}\n"
        "#endif"
    )
    return text[:match.start()] + fill + text[match.end():], ""


def _carrier(literals: list[str]) -> str | None:
    """The builtin type every literal has in C++ (double or int), or None if they differ."""
    if all(_FLOAT_LITERAL.match(literal) for literal in literals):
        return "double"
    if all(_INT_LITERAL.match(literal) and abs(int(literal)) <= _INT_MAX for literal in literals):
        return "int"
    return None


def _typedefs(defines_h: Path) -> dict[str, str]:
    """Type name -> definition, from hls4ml's ``defines.h``."""
    if not defines_h.is_file():
        return {}
    return {m["name"]: m["definition"].strip() for m in _TYPEDEF.finditer(defines_h.read_text())}


def _resolve(type_name: str, typedefs: dict[str, str]) -> str | None:
    """The definition ``type_name`` stands for, following typedef chains."""
    seen: set[str] = set()
    definition = typedefs.get(type_name)
    while definition is not None and definition in typedefs and definition not in seen:
        seen.add(definition)
        definition = typedefs[definition]
    return definition
