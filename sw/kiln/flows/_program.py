"""``kiln program``: load a built bitstream onto an attached open board with openFPGALoader."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

from kiln.artifact import TopSources
from kiln.errors import ArtifactError, KilnError, ToolFailedError, ToolMissingError
from kiln.flows._board import Board
from kiln.flows._boards import get_board
from kiln.tools import require_tool, run_tool

__all__ = ["BoardNotFoundError", "program"]

log = logging.getLogger(__name__)

_NO_BOARD = re.compile(r"unable to open ftdi device|JTAG init failed|no device found|cable not "
                       r"found|No cable|fails to open|LIBUSB_ERROR|not found on USB|"
                       r"device not found|Error: no", re.IGNORECASE)
_NO_LIBRARY = re.compile(r"error while loading shared libraries: (\S+)")


class BoardNotFoundError(KilnError):
    """No board answered on the cable the programmer tried."""


def program(artifact: str | Path, board: str | Board, *, flash: bool = False,
            cable: str | None = None, force: bool = False,
            timeout_s: float = 300.0) -> Path:
    """Load ``DIR/bitstream/<board>/``'s bitstream onto the attached board.

    Args:
        artifact: the artifact directory.
        board: the board name (as given to ``build_bitstream``).
        flash: write the configuration flash (survives power-off) instead of SRAM.
        cable: an openFPGALoader cable name, when its default for the board is wrong.
        force: load a bitstream whose build report says timing failed.
        timeout_s: wall-clock limit.

    Returns:
        The bitstream that was loaded.

    Raises:
        ArtifactError: no bitstream for this board (build it first).
        KilnError: a Zynq board (its bitstream goes through PYNQ), or timing failed.
        ToolMissingError: openFPGALoader (or a library it needs) is missing.
        BoardNotFoundError: no board found on the cable.
    """
    b = get_board(board)
    if b.programmer.tool != "openFPGALoader":
        raise KilnError(
            f"{b.title} is not programmed over JTAG by kiln: copy kiln.bit and kiln.hwh from "
            f"DIR/bitstream/{b.name}/ to the board and load them with pynq.Overlay('kiln.bit') "
            f"(kiln's PYNQ transport does this)")
    design = TopSources.load(artifact)
    bitstream = _bitstream(design.artifact, b)
    _check_report(design.artifact, b, force)
    tool = require_tool("openFPGALoader", needs=f"programming the {b.title}")
    args = ["-b", b.programmer.board]
    if cable:
        args += ["-c", cable]
    if flash:
        args.append("-f")
    args.append(str(bitstream))
    log.info("programming %s with %s%s", b.title, bitstream, " (flash)" if flash else "")
    try:
        run_tool(tool.argv(*args), cwd=bitstream.parent, what=f"openFPGALoader ({b.name})",
                 timeout_s=timeout_s)
    except ToolFailedError as exc:
        raise _classify(exc, b) from exc
    return bitstream


def _bitstream(root: Path, board: Board) -> Path:
    folder = root / "bitstream" / board.name
    for name in ("kiln.bit", "kiln.bin"):
        if (folder / name).is_file():
            return folder / name
    raise ArtifactError(f"No bitstream in {folder}: build it first with "
                        f"`kiln bitstream {root} --board {board.name}`")


def _check_report(root: Path, board: Board, force: bool) -> None:
    path = root / "reports" / f"bitstream_{board.name}.json"
    try:
        report = json.loads(path.read_text())
    except (OSError, ValueError):
        log.warning("%s is missing or unreadable; programming without a timing check", path)
        return
    if not report.get("timing_met", True) and not force:
        raise KilnError(f"The bitstream for {board.name} misses timing ({path}); it may "
                        f"compute wrong results. Pass force=True (`--force`) to load it anyway")


def _classify(exc: ToolFailedError, board: Board) -> KilnError:
    output = exc.output
    missing = _NO_LIBRARY.search(output)
    if missing:
        return ToolMissingError(
            f"openFPGALoader cannot start: it needs {missing.group(1)} (Debian: apt-get install "
            f"libusb-1.0-0 libftdi1-2)")
    if _NO_BOARD.search(output):
        line = next((ln.strip() for ln in output.splitlines() if _NO_BOARD.search(ln)), "")
        return BoardNotFoundError(
            f"No {board.title} found: openFPGALoader says {line!r}. Connect the board over "
            f"USB, check that your user may open it (udev rules, the plugdev group), or name "
            f"the cable with cable=... (`--cable`; `openFPGALoader --detect` lists what it sees)")
    return KilnError(f"openFPGALoader failed to program the {board.title}:\n{output[-2000:]}")
