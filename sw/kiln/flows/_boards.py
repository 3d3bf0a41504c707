"""The board registry: the board files in ``hw/boards/`` (each defines ``BOARDS``)."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

from kiln._checkout import HW_DIR_ENV, hw_dir
from kiln.flows._board import Board, BoardError

__all__ = ["board_names", "boards", "get_board", "hw_dir"]



@functools.lru_cache(maxsize=4)
def _load(boards_dir: Path) -> dict[str, Board]:
    if not boards_dir.is_dir():
        raise BoardError(f"No board files at {boards_dir}: kiln reads hw/boards/ from its "
                         f"checkout (set ${HW_DIR_ENV} to the hw/ folder)")
    found: dict[str, Board] = {}
    for path in sorted(boards_dir.glob("*.py")):
        if path.name.startswith("_"):
            continue
        spec = importlib.util.spec_from_file_location(f"kiln_hw_boards.{path.stem}", path)
        if spec is None or spec.loader is None:
            raise BoardError(f"Cannot load board file {path}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for board in getattr(module, "BOARDS", ()):
            if not isinstance(board, Board):
                raise BoardError(f"{path}: BOARDS holds {board!r}, which is not a Board")
            if board.name in found:
                raise BoardError(f"{path}: board {board.name!r} is defined twice")
            found[board.name] = board
    return found


def boards() -> dict[str, Board]:
    """Every board kiln knows, by name."""
    return dict(_load(hw_dir() / "boards"))


def board_names() -> list[str]:
    """The names ``--board`` accepts, sorted."""
    return sorted(boards())


def get_board(board: str | Board) -> Board:
    """The board called ``board`` (a Board passes through).

    Raises:
        BoardError: no such board; the message lists the valid names.
    """
    if isinstance(board, Board):
        return board
    known = boards()
    if board not in known:
        raise BoardError(f"Unknown board {board!r}; kiln knows: {', '.join(sorted(known))}")
    return known[board]
