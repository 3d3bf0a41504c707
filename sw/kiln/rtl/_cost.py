"""What the hardware kiln.rtl builds from a graph will cost, before any Verilog is written.

A model of kiln's own emitters, calibrated against yosys (the coefficients below say on
what): a fully unrolled Dense (and a convolution's window Dense) is an adder graph with
about a share of an adder per non-zero digit of each weight's non-adjacent form (what
common-subexpression sharing leaves), each as wide as a product plus the growth of its
sum, and registers at every stage boundary; a folded one is ``n_in * n_out / R``
multipliers (the DSP blocks yosys maps them to), their input multiplexers, the lanes'
adders and accumulators, and the weight ROMs (block RAM when the layer's table is large,
else LUTs). Everything else (casts, activations, tables, line buffers) is a few LUTs or
registers per bit it carries.

The estimate is used to refuse a design far beyond its part before any RTL is written, and
to choose reuse factors that fit a part (``reuse_factor="auto"``).
"""

from __future__ import annotations

from dataclasses import dataclass

from kiln.ir import (
    Cast,
    Conv,
    Dense,
    Elu,
    FixedType,
    Graph,
    Lut,
    Node,
    Pool,
    Relu,
    SignThreshold,
    spatial,
)
from kiln.rtl._cse import naf
from kiln.rtl._fifo import FIFO_MIN_DEPTH, front_fifo_depth
from kiln.rtl._fold import ROM_WORD_BITS
from kiln.rtl._linebuffer import WindowGeometry
from kiln.rtl._sign import comparators

#: LUT4s per adder bit (ECP5 TRELLIS_COMB after packing) and LUT6s per adder bit (yosys
#: synth_xilinx for UltraScale+) of the folded layers' arithmetic, calibrated on kiln's
#: earlier unrolled design of the 64-32-32-10 digits MLP (yosys 0.70: 76,495 TRELLIS_COMB;
#: 42,023 LUT6).
LUT4_PER_ADDER_BIT = 0.81
LUT6_PER_ADDER_BIT = 0.445
#: An unrolled layer's adder bits per (weight digit x product width) after sharing, and
#: its LUT6s and registers (at one stage per ADDER_LEVELS) per adder bit: measured on the
#: 6-bit jet MLP at 2 adder levels per stage (kiln.rtl emits 34,313 adder bits for 4,267
#: digits; yosys 0.70 synth_xilinx -family xcup: 29,695 LUT6, 19,154 FF); the digits and
#: fixed<16,6> jet MLPs emit within 25% of this share (docs/hardware-cost.md).
ADDER_GRAPH_SHARE = 0.38
LUT6_PER_GRAPH_BIT = 0.87
LUT4_PER_GRAPH_BIT = LUT6_PER_GRAPH_BIT * LUT4_PER_ADDER_BIT / LUT6_PER_ADDER_BIT
FF_PER_GRAPH_BIT_LEVEL = 1.15
#: The logic of a folded layer (multiplexers, lane adders, LUT ROMs) against the count
#: above, calibrated on the jet MLP at reuse factor 16 (16,270 TRELLIS_COMB, 267 MULT18X18D).
FOLDED_LOGIC_SCALE = 1.45
#: A weight ROM goes to block RAM from this many bits (smaller ones are LUT ROM).
BRAM_MIN_BITS = 2048
#: The (depth, width) shapes of an 18 kbit block RAM read as a ROM: ECP5 DP16KD and a Xilinx
#: RAMB18 alike.
BRAM_SHAPES = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36))


@dataclass(frozen=True)
class Cost:
    """Resources of a layer or a design: LUT4s (ECP5), LUT6s (Xilinx), registers,
    multipliers (DSP blocks) and 18 kbit block RAMs."""

    lut4: float = 0.0
    lut6: float = 0.0
    ff: float = 0.0
    dsp: int = 0
    bram: int = 0

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.lut4 + other.lut4, self.lut6 + other.lut6, self.ff + other.ff,
                    self.dsp + other.dsp, self.bram + other.bram)

    def to_dict(self) -> dict[str, int]:
        return {"LUT4": round(self.lut4), "LUT6": round(self.lut6), "FF": round(self.ff),
                "DSP": self.dsp, "BRAM18": self.bram}


def _logic(luts4: float) -> Cost:
    """``luts4`` LUT4s of logic, and the LUT6s that take its place on Xilinx parts."""
    return Cost(luts4, luts4 * LUT6_PER_ADDER_BIT / LUT4_PER_ADDER_BIT, 0.0)


def _dense_cost(node: Dense, in_width: int) -> Cost:
    acc = node.accum_type.width
    n_in, n_out = node.n_in, node.n_out
    r = node.reuse_factor
    if r == 1:
        digits = sum(len(naf(int(w))) for w in node.weight.flat) + n_out
        growth = max(n_in - 1, 1).bit_length()
        width = min(acc, in_width + node.weight_type.width + growth)
        bits = ADDER_GRAPH_SHARE * digits * width
        return Cost(bits * LUT4_PER_GRAPH_BIT, bits * LUT6_PER_GRAPH_BIT,
                    bits * FF_PER_GRAPH_BIT_LEVEL / node.adder_levels)
    steps = min(r, n_in)
    multipliers = n_in * n_out // r
    lanes = n_out * steps // r
    slots = n_in // steps
    rom_bits = r * multipliers * node.weight_type.width
    bram = _rom_brams(r, multipliers, node.weight_type.width) if rom_bits >= BRAM_MIN_BITS \
        else 0
    rom_luts = 0 if bram else rom_bits / 16
    mux_luts = slots * in_width * steps / 2
    adder_bits = lanes * acc * (slots + 1)
    # the latched sample, the accumulators, the outputs, the ROM outputs and the products
    registers = n_in * in_width + lanes * acc + n_out * node.out_type.width \
        + multipliers * (node.weight_type.width + acc)
    if node.lut_multipliers:  # one shifted add of the input per weight bit
        product_bits = in_width + node.weight_type.width + 1
        adder_bits += multipliers * node.weight_type.width * product_bits
    logic = FOLDED_LOGIC_SCALE * (rom_luts + mux_luts + adder_bits)
    dsp = 0 if node.lut_multipliers else multipliers
    return _logic(logic) + Cost(ff=registers, dsp=dsp, bram=bram)


def _bram_blocks(depth: int, width: int) -> int:
    """18 kbit blocks for ``depth`` words of ``width`` bits, in the block shape that needs the
    fewest."""
    return min(-(-depth // d) * -(-width // w) for d, w in BRAM_SHAPES)


def _rom_brams(depth: int, fields: int, field_bits: int) -> int:
    """Block RAMs for the weight ROMs of a folded layer (kiln.rtl._fold): ``depth`` words
    of ``fields`` weights, split into ROMs of at most ROM_WORD_BITS, each laid out in the
    block shape that needs the fewest blocks."""
    per_rom = max(1, ROM_WORD_BITS // field_bits)
    widths = [min(per_rom, fields - k) * field_bits for k in range(0, fields, per_rom)]
    return sum(_bram_blocks(depth, width) for width in widths)


def _line_buffer(kernel: tuple[int, int], previous: Node) -> Cost:
    """io_stream's line buffer in front of a window (kiln.rtl._linebuffer): a shift register
    of the pixels from a window's first to its last, whose taps are the window."""
    rows, cols, channels = spatial(previous.shape)
    g = WindowGeometry(rows, cols, channels, previous.out_type.width, kernel, (1, 1))
    return Cost(ff=g.span * g.pixel_bits)


def _fifo_cost(node: Node, previous: Node) -> Cost:
    """The FIFO in front of a folded io_stream layer (kiln.rtl._fifo): its RAM and output
    register. yosys 0.70 synth_ecp5 puts 16 x 300 and 128 x 8 bits in LUT RAM (16 bits a
    LUT4), 64 x 120 in 4 DP16KD: block RAM when deeper than LUT RAM and large."""
    depth = front_fifo_depth(node, previous)
    if depth is None:
        return Cost()
    width = spatial(previous.shape)[2] * previous.out_type.width
    if depth > FIFO_MIN_DEPTH and depth * width >= BRAM_MIN_BITS:
        ram = Cost(bram=_bram_blocks(depth, width))
    else:
        ram = _logic(depth * width / 16)
    return ram + Cost(ff=width)


def node_cost(node: Node, previous: Node, io_type: str = "io_parallel") -> Cost:
    """The estimated cost of one layer of the graph (reading ``previous``). In io_stream an
    elementwise layer works on one pixel (its channels) and a Dense after a multi-pixel
    layer first collects the frame; a folded layer there has a FIFO in front."""
    if io_type == "io_stream":
        return _layer_cost(node, previous, True) + _fifo_cost(node, previous)
    return _layer_cost(node, previous, False)


def _layer_cost(node: Node, previous: Node, stream: bool) -> Cost:
    in_width = previous.out_type.width
    if isinstance(node, Dense):
        frame = _line_buffer(spatial(previous.shape)[:2], previous) \
            if stream and len(previous.shape) > 1 else Cost()
        return _dense_cost(node, in_width) + frame
    if isinstance(node, Conv | Pool) and not stream:
        # io_parallel (kiln.rtl._parallel_conv): every output pixel's window at once, no
        # line buffer; a pixel's logic as in io_stream, once per output pixel.
        pixels = spatial(node.shape)[0] * spatial(node.shape)[1]
        if isinstance(node, Conv):
            dense = _dense_cost(node.pixel_dense(), in_width)
            return Cost(dense.lut4 * pixels, dense.lut6 * pixels, dense.ff * pixels)
        compare = _pool_logic(node, node.shape[-1], in_width)
        return Cost(compare.lut4 * pixels, compare.lut6 * pixels, node.size * node.out_type.width)
    if isinstance(node, Conv):
        return _dense_cost(node.pixel_dense(), in_width) + _line_buffer(node.kernel, previous)
    if isinstance(node, Pool):
        return (_pool_logic(node, spatial(previous.shape)[2], in_width)
                + _line_buffer(node.kernel, previous))
    # elementwise layers: per element a cast (ReLU and Cast: the requantize), or a little
    # logic (tables, activations); a register per output bit (of a pixel in io_stream)
    elements = node.shape[-1] if stream and len(node.shape) > 1 else node.size
    bits = elements * node.out_type.width
    if isinstance(node, Relu | Cast):
        return _logic(elements * _requantize_luts(previous.out_type, node.out_type)) \
            + Cost(ff=bits)
    if isinstance(node, Lut | Elu):  # per element its index (a LUT an input bit), a ROM
        rom = _rom_cost(int(node.table.shape[0]), node.out_type.width)
        return Cost(rom.lut4 * elements, rom.lut6 * elements, bits, 0, rom.bram * elements) \
            + _logic(elements * previous.out_type.width)
    if isinstance(node, SignThreshold):
        return _sign_cost(node, previous.out_type, elements)
    return _logic(2 * bits) + Cost(ff=bits)


def _sign_cost(node: SignThreshold, in_type: FixedType, elements: int) -> Cost:
    """A SignThreshold's ``elements`` (kiln.rtl._sign): per element up to two comparisons
    with a constant, a LUT4 an input bit each, and a register per comparison (an element
    with one has two equal result bits or a constant one, which synthesis keeps as one);
    a comparison with a threshold at or beyond the input type's ends is a constant, a
    binary element needs one, and an element left with none costs nothing. Measured (yosys
    0.70 synth_ecp5 of the layer alone): 64 elements of fixed<16,6>, half binary, 227 LUT4
    + 642 CCU2C = 1,511 LUT4-equivalents and 96 FF; estimated 1,536 and 96."""
    compares = sum(comparators(*node.thresholds_at(i), in_type) for i in range(elements))
    return _logic(compares * in_type.width) + Cost(ff=compares)


def _rom_cost(entries: int, width: int) -> Cost:
    """A registered ROM (kiln.rtl's tables): block RAM when large, else LUTs (16 bits a
    LUT4)."""
    if entries * width >= BRAM_MIN_BITS:
        return Cost(bram=_bram_blocks(entries, width))
    return _logic(entries * width / 16)


def _pool_logic(node: Pool, channels: int, in_width: int) -> Cost:
    """A window's pooling per channel: a max is a tree of ``k - 1`` compare-and-select pairs
    (yosys 0.70 synth_ecp5: 2 LUT4 a bit on the LeNet's 2x2 pools, 720 and 1,806 for 20 and
    50 channels); an average, a sum of the ``k`` inputs (the divide is a constant)."""
    taps = node.kernel[0] * node.kernel[1]
    if node.op == "max":
        return _logic(2 * (taps - 1) * channels * in_width)
    return _logic(taps * channels * in_width)


def _requantize_luts(in_type: FixedType, out_type: FixedType) -> float:
    """LUT4s of one element cast by kiln.rtl._requantize: about one per input bit (the
    range check and select), plus the rounding adder over the integer part and the kept
    fraction when the cast rounds (yosys 0.70 synth_ecp5 on the LeNet's ReLU of 500
    fixed<18,9> -> ufixed<6,2,RND_CONV,SAT>: 29.3 LUT4-equivalents an element, where this
    gives 31)."""
    dropped = max(in_type.frac - out_type.frac, 0)
    adder = in_type.width - dropped + 1 if dropped and out_type.rounding != "TRN" else 0
    return float(in_type.width + adder)


def estimate(graph: Graph) -> dict[str, Cost]:
    """The estimated cost of each layer of ``graph`` (by name) and ``"total"``."""
    costs: dict[str, Cost] = {}
    previous = graph.input
    for node in graph.nodes[1:]:
        costs[node.name] = node_cost(node, previous, graph.io_type)
        previous = node
    total = Cost()
    for cost in costs.values():
        total = total + cost
    costs["total"] = total
    return costs
