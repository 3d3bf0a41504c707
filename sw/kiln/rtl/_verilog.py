"""Write a :class:`~kiln.rtl._builder.Module` as Verilog-2005 text."""

from __future__ import annotations

from kiln.rtl._builder import Expr, Module, RtlBuilderError, Signal, _Ram, _Register, _Rom, const

_I = "  "
UNUSED_SINK = "_unused_ok"
# ROMs deeper than this are written as an initialised memory read by address, not as a
# ``case`` table: Verilator's time on case tables grows past minutes at 10^5 entries (the
# LeNet's fc1), and yosys and Vivado infer block RAM from either form.
CASE_ROM_ENTRIES = 4096


def _shape(sig: Signal) -> str:
    parts = ["signed"] if sig.signed else []
    if sig.width > 1:
        parts.append(f"[{sig.width - 1}:0]")
    return " ".join(parts)


def _decl(kind: str, sig: Signal) -> str:
    return " ".join(p for p in (kind, _shape(sig), sig.name) if p)


def _header(m: Module) -> list[str]:
    lines = [f"// {line}".rstrip() for line in m.comment.splitlines()]
    lines += ["`default_nettype none", f"module {m.name} ("]
    ports = m.ports
    for i, port in enumerate(ports):
        direction = "input " if port.kind == "input" else "output"
        sep = "," if i < len(ports) - 1 else ""
        lines.append(f"{_I}{_decl(direction + ' wire', port)}{sep}")
    lines.append(");")
    return lines


def _declarations(m: Module) -> list[str]:
    values = m.values
    lines = []
    for sig in m.signals.values():
        if sig.kind == "reg":
            lines.append(f"{_I}{_decl('reg', sig)};")
        elif sig.kind == "wire" and m.is_inline(sig.name):
            lines.append(f"{_I}{_decl('wire', sig)} = {values[sig.name].text};")
        elif sig.kind == "wire":
            lines.append(f"{_I}{_decl('wire', sig)};")
    return lines


def _assigns(m: Module) -> list[str]:
    return [f"{_I}assign {name} = {value.text};" for name, value in m.values.items()
            if not m.is_inline(name)]


def _always(m: Module) -> list[str]:
    groups: dict[tuple[str | None, str | None], list[_Register]] = {}
    for r in m.registers:
        key = (r.enable.text if r.enable else None, r.reset[0].text if r.reset else None)
        groups.setdefault(key, []).append(r)
    lines: list[str] = []
    clock = m.clock
    for (enable, reset), regs in groups.items():
        assert clock is not None
        if lines:
            lines.append("")
        lines.append(f"{_I}always @(posedge {clock.name}) begin")
        depth = 2
        if reset is not None:
            lines.append(f"{_I * 2}if ({reset}) begin")
            lines += [f"{_I * 3}{r.q.name} <= {r.reset[1].text};" for r in regs if r.reset]
            lines.append(f"{_I * 2}end else " + (f"if ({enable}) begin" if enable else "begin"))
            depth = 3
        elif enable is not None:
            lines.append(f"{_I * 2}if ({enable}) begin")
            depth = 3
        lines += [f"{_I * depth}{r.q.name} <= {r.d.text};" for r in regs]
        if depth == 3:
            lines.append(f"{_I * 2}end")
        lines.append(f"{_I}end")
    return lines


def _rom(rom: _Rom, clock: str) -> list[str]:
    depth = 3 if rom.enable is not None else 2
    big = len(rom.entries) > CASE_ROM_ENTRIES
    memory = f"{rom.q.name}_rom"
    lines: list[str] = []
    if big:
        declaration = " ".join(p for p in ("reg", _shape(rom.q), memory) if p)
        lines += [f"{_I}{declaration} [0:{len(rom.entries) - 1}];", f"{_I}initial begin"]
        lines += [f"{_I * 2}{memory}[{k}] = {e.text};" for k, e in enumerate(rom.entries)]
        lines.append(f"{_I}end")
    lines.append(f"{_I}always @(posedge {clock}) begin")
    if rom.enable is not None:
        lines.append(f"{_I * 2}if ({rom.enable.text}) begin")
    width = rom.address.width
    zero = const(0, rom.q.width, rom.q.signed).text
    if big:
        read = f"{memory}[{rom.address.text}]"
        if len(rom.entries) < 1 << width:
            limit = const(len(rom.entries), width, False).text
            read = f"({rom.address.text} < {limit}) ? {read} : {zero}"
        lines.append(f"{_I * depth}{rom.q.name} <= {read};")
    else:
        lines.append(f"{_I * depth}case ({rom.address.text})")
        lines += [f"{_I * (depth + 1)}{width}'d{k}: {rom.q.name} <= {e.text};"
                  for k, e in enumerate(rom.entries)]
        if len(rom.entries) < 1 << width:
            lines.append(f"{_I * (depth + 1)}default: {rom.q.name} <= {zero};")
        lines.append(f"{_I * depth}endcase")
    if rom.enable is not None:
        lines.append(f"{_I * 2}end")
    lines.append(f"{_I}end")
    return lines


def _ram(ram: _Ram, clock: str) -> list[str]:
    memory = f"{ram.q.name}_mem"
    declaration = " ".join(p for p in ("reg", _shape(ram.q), memory) if p)
    return [f"{_I}{declaration} [0:{ram.depth - 1}];",
            f"{_I}always @(posedge {clock}) begin",
            f"{_I * 2}if ({ram.write_enable.text}) {memory}[{ram.write_address.text}] <= "
            f"{ram.write_data.text};",
            f"{_I * 2}if ({ram.read_enable.text}) {ram.q.name} <= "
            f"{memory}[{ram.read_address.text}];",
            f"{_I}end"]


def _memories(m: Module) -> list[str]:
    """The ROMs' and RAMs' blocks, a blank line between two."""
    if m.clock is None:
        return []
    clock = m.clock.name
    blocks = [_rom(rom, clock) for rom in m.roms] + [_ram(ram, clock) for ram in m.rams]
    return [line for k, block in enumerate(blocks) for line in ([""] if k else []) + block]


def _instances(m: Module) -> list[str]:
    lines = []
    for inst in m.instances:
        lines.append(f"{_I}{inst.module.name} {inst.name} (")
        for i, (port, value) in enumerate(inst.connections):
            sep = "," if i < len(inst.connections) - 1 else ""
            lines.append(f"{_I * 2}.{port}({value.text}){sep}")
        lines.append(f"{_I});")
    return lines


def _read_exprs(m: Module) -> list[Expr]:
    exprs = list(m.values.values())
    for r in m.registers:
        exprs.append(r.d)
        if r.enable is not None:
            exprs.append(r.enable)
        if r.reset is not None:
            exprs += list(r.reset)
    for rom in m.roms:
        exprs += [rom.address] + ([rom.enable] if rom.enable is not None else [])
    for ram in m.rams:
        exprs += [ram.write_address, ram.write_data, ram.write_enable, ram.read_address,
                  ram.read_enable]
    for inst in m.instances:
        ports = {p.name: p for p in inst.module.ports}
        exprs += [value for port, value in inst.connections if ports[port].kind == "input"]
    return exprs


def unused_bits(m: Module) -> list[str]:
    """Selects (``x[3:0]``, ``y``) of the bits no expression in ``m`` reads, in declaration
    order; outputs are excluded, and the clock counts as read when there are registers."""
    read: dict[str, int] = {}
    for e in _read_exprs(m):
        for name, lsb, width in e.reads:
            read[name] = read.get(name, 0) | (((1 << width) - 1) << lsb)
    if m.clock is not None:
        read[m.clock.name] = 1
    selects = []
    for sig in m.signals.values():
        if sig.kind == "output":
            continue
        mask = read.get(sig.name, 0)
        selects += _unread_selects(sig, mask)
    return selects


def _unread_selects(sig: Signal, mask: int) -> list[str]:
    out: list[str] = []
    bit = sig.width - 1
    while bit >= 0:
        if mask >> bit & 1:
            bit -= 1
            continue
        top = bit
        while bit >= 0 and not mask >> bit & 1:
            bit -= 1
        low = bit + 1
        if top == sig.width - 1 and low == 0:
            out.append(sig.name)
        elif top == low:
            out.append(f"{sig.name}[{top}]")
        else:
            out.append(f"{sig.name}[{top}:{low}]")
    return out


def _sink(selects: list[str]) -> list[str]:
    """``wire _unused_ok = &{1'b0, a, b[3:0], ..., 1'b0};`` wrapped to short lines."""
    items = ["1'b0", *selects, "1'b0"]
    lines = [f"{_I}wire {UNUSED_SINK} = &{{"]
    line = ""
    for i, item in enumerate(items):
        piece = item + ("," if i < len(items) - 1 else "")
        if line and len(line) + len(piece) > 90:
            lines.append(f"{_I * 2}{line}")
            line = ""
        line = f"{line} {piece}" if line else piece
    lines.append(f"{_I * 2}{line}")
    lines.append(f"{_I}}};")
    return lines


def emit_module(m: Module) -> str:
    """Verilog-2005 text of ``m``, ending in a newline."""
    undriven = m.undriven()
    if undriven:
        raise RtlBuilderError(f"Module {m.name}: nothing drives {', '.join(undriven)}")
    sections = [_declarations(m), _assigns(m), _always(m), _memories(m), _instances(m)]
    unused = unused_bits(m)
    if unused:
        sections.append(_sink(unused))
    lines = _header(m)
    for section in sections:
        if section:
            lines += ["", *section]
    lines += ["endmodule", "`default_nettype wire"]
    return "\n".join(lines) + "\n"
