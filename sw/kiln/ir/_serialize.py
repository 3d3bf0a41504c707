"""IR to and from plain JSON, so the artifact carries the IR that every stage reads."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from kiln.errors import ArtifactError
from kiln.ir._nodes import NODE_KINDS, Graph, Node, frozen_codes
from kiln.ir._types import FixedType

_KINDS = {cls.kind: cls for cls in NODE_KINDS}


def node_to_dict(node: Node) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": node.kind}
    for f in dataclasses.fields(node):
        value = getattr(node, f.name)
        if isinstance(value, FixedType):
            value = str(value)
        elif isinstance(value, np.ndarray):
            value = value.tolist()
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def node_from_dict(data: dict[str, Any]) -> Node:
    try:
        cls = _KINDS[data["kind"]]
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name not in data and f.default is not dataclasses.MISSING:
                continue  # a field added since the IR was written: its default
            value = data[f.name]
            if f.type in ("FixedType",):
                value = FixedType.parse(value)
            elif f.type == "Codes":
                value = frozen_codes(value)
            elif f.name == "shape" or str(f.type).startswith("tuple"):
                value = tuple(value)
            kwargs[f.name] = value
        return cls(**kwargs)
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(
            f"IR node {data.get('name', '?')!r} in the artifact is corrupt ({exc!r}); "
            "recompile the model with `kiln compile`"
        ) from exc


def graph_to_dict(graph: Graph) -> dict[str, Any]:
    return {
        "name": graph.name,
        "io_type": graph.io_type,
        "nodes": [node_to_dict(n) for n in graph.nodes],
    }


def graph_from_dict(data: dict[str, Any]) -> Graph:
    try:
        return Graph(
            name=data["name"],
            nodes=tuple(node_from_dict(n) for n in data["nodes"]),
            io_type=data["io_type"],
        )
    except KeyError as exc:
        raise ArtifactError(
            f"IR in the artifact lacks {exc}; recompile with `kiln compile`"
        ) from exc
