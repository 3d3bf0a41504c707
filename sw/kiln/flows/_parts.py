"""What an FPGA part holds: logic cells, registers, multipliers and block RAM, for the
resource guard and ``reuse_factor="auto"`` (kiln.compiler). Data only; from the vendors'
family data sheets (Lattice FPGA-DS-02012 ECP5, FPGA-DS-02008 iCE40 UltraPlus; AMD DS190
Zynq-7000, DS891 Zynq UltraScale+, DS923 Virtex UltraScale+)."""

from __future__ import annotations

from dataclasses import dataclass

from kiln.errors import KilnError

__all__ = ["PARTS", "PartCapacity", "part_capacity"]


@dataclass(frozen=True)
class PartCapacity:
    """A part's resources.

    Attributes:
        prefix: the start of the part names it covers (``LFE5U-85F``).
        lut: logic cells (LUT4 on Lattice parts, LUT6 on AMD parts).
        lut_kind: ``"LUT4"`` or ``"LUT6"``.
        ff: registers.
        dsp: multiplier blocks (MULT18X18D, DSP48, SB_MAC16).
        bram18: 18 kbit block RAMs (an ECP5 DP16KD, half a RAMB36; iCE40 EBRs are 4 kbit,
            counted here in 18 kbit units).
    """

    prefix: str
    lut: int
    lut_kind: str
    ff: int
    dsp: int
    bram18: int


PARTS: tuple[PartCapacity, ...] = (
    PartCapacity("LFE5U-12F", 12_096, "LUT4", 12_096, 28, 32),
    PartCapacity("LFE5U-25F", 24_288, "LUT4", 24_288, 28, 56),
    PartCapacity("LFE5U-45F", 43_848, "LUT4", 43_848, 72, 108),
    PartCapacity("LFE5U-85F", 83_640, "LUT4", 83_640, 156, 208),
    PartCapacity("iCE40UP5K", 5_280, "LUT4", 5_280, 8, 6),
    PartCapacity("xc7z020", 53_200, "LUT6", 106_400, 220, 280),
    PartCapacity("xczu7ev", 230_400, "LUT6", 460_800, 1_728, 624),
    PartCapacity("xcvu9p", 1_182_240, "LUT6", 2_364_480, 6_840, 4_320),
    PartCapacity("xcku115", 663_360, "LUT6", 1_326_720, 5_520, 4_320),
)


def part_capacity(part: str) -> PartCapacity:
    """The capacity of ``part`` (a full part name such as ``LFE5U-85F-6BG381C``).

    Raises:
        KilnError: a part kiln has no data for; the message lists those it has.
    """
    for capacity in PARTS:
        if part.lower().startswith(capacity.prefix.lower()):
            return capacity
    raise KilnError(f"kiln has no resource data for part {part!r}; it knows "
                    f"{', '.join(c.prefix for c in PARTS)} (kiln.flows.PARTS). Choose one of "
                    "those (part= or board=), or give the reuse factors yourself.")
