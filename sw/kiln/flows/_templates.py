"""Flow scripts and constraint files from Jinja templates in ``hw/templates/``.

Templates render with ``StrictUndefined`` (a missing variable is an error, never an empty
string). Each template marks named override hooks, ``{{ hooks.NAME }}``, where a user's
extra text goes (Amaranth's ``script_after_read``, ``nextpnr_opts``, ...); a toolchain lists
the hooks it has, and an unknown hook name is an error.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import jinja2

from kiln.errors import KilnError
from kiln.flows._boards import hw_dir

__all__ = ["check_hooks", "render", "tcl_brace"]


def tcl_brace(value: object) -> str:
    """``value`` as one braced Tcl word (``{FIXED_IO, DDR}``)."""
    text = str(value)
    depth = 0
    for ch in text:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            break
    if depth != 0 or "\\" in text:
        raise KilnError(f"{text!r} cannot be quoted as one Tcl word")
    return "{" + text + "}"


@functools.lru_cache(maxsize=4)
def _environment(template_dir: Path) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["brace"] = tcl_brace
    return env


def render(template: str, /, **context: Any) -> str:
    """Render ``hw/templates/TEMPLATE`` with ``context``.

    Raises:
        KilnError: the template is missing or uses a variable the context lacks.
    """
    env = _environment(hw_dir() / "templates")
    try:
        return env.get_template(template).render(**context)
    except jinja2.TemplateNotFound as exc:
        raise KilnError(f"Flow template {template} not found in {hw_dir() / 'templates'}") \
            from exc
    except jinja2.UndefinedError as exc:
        raise KilnError(f"Flow template {template}: {exc}") from exc


def check_hooks(given: Mapping[str, str] | None, known: Iterable[str],
                where: str) -> dict[str, str]:
    """All of ``known`` as a dict, empty unless ``given`` sets them.

    Raises:
        KilnError: ``given`` names a hook ``where`` does not have (lists the valid ones).
    """
    names = tuple(known)
    hooks = dict.fromkeys(names, "")
    for key, value in (given or {}).items():
        if key not in hooks:
            raise KilnError(f"{where} has no override hook {key!r}; its hooks are: "
                            f"{', '.join(names)}")
        hooks[key] = str(value)
    return hooks
