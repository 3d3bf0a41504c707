// kiln_axis_dma_wrap: kiln_top between the two streams of an AXI DMA (Zynq block designs).
//
// The DMA's stream widths are powers of two (32..1024 bits); kiln_top's are IN_BITS and
// OUT_BITS. One DMA beat is one sample: the low IN_BITS of each MM2S beat go to kiln_top
// (the bits above are ignored), and each result leaves as one S2MM beat with OUT_BITS of data
// and zeros above, all bytes kept. tlast passes through kiln_top, so a DMA transfer of N
// samples comes back as one transfer of N results. The attributes let Vivado's IP
// integrator infer the clock, the active-low reset and the two AXI4-Stream interfaces.
`default_nettype none
module kiln_axis_dma_wrap #(
    parameter integer IN_BITS = 32,
    parameter integer OUT_BITS = 32,
    parameter integer IN_DMA_BITS = 32,
    parameter integer OUT_DMA_BITS = 32
) (
    (* X_INTERFACE_INFO = "xilinx.com:signal:clock:1.0 clk CLK" *)
    (* X_INTERFACE_PARAMETER = "ASSOCIATED_BUSIF s_axis:m_axis, ASSOCIATED_RESET rst_n" *)
    input  wire                      clk,
    (* X_INTERFACE_INFO = "xilinx.com:signal:reset:1.0 rst_n RST" *)
    (* X_INTERFACE_PARAMETER = "POLARITY ACTIVE_LOW" *)
    input  wire                      rst_n,
    input  wire [IN_DMA_BITS-1:0]    s_axis_tdata,
    input  wire                      s_axis_tvalid,
    output wire                      s_axis_tready,
    input  wire                      s_axis_tlast,
    output wire [OUT_DMA_BITS-1:0]   m_axis_tdata,
    output wire [OUT_DMA_BITS/8-1:0] m_axis_tkeep,
    output wire                      m_axis_tvalid,
    input  wire                      m_axis_tready,
    output wire                      m_axis_tlast
);
    wire [OUT_BITS-1:0] out_tdata;

    kiln_top u_kiln (
        .clk(clk), .rst_n(rst_n),
        .s_axis_tdata(s_axis_tdata[IN_BITS-1:0]), .s_axis_tvalid(s_axis_tvalid),
        .s_axis_tready(s_axis_tready), .s_axis_tlast(s_axis_tlast),
        .m_axis_tdata(out_tdata), .m_axis_tvalid(m_axis_tvalid),
        .m_axis_tready(m_axis_tready), .m_axis_tlast(m_axis_tlast)
    );

    generate
        if (OUT_DMA_BITS == OUT_BITS) begin : g_out_exact
            assign m_axis_tdata = out_tdata;
        end else begin : g_out_padded
            assign m_axis_tdata = {{(OUT_DMA_BITS - OUT_BITS){1'b0}}, out_tdata};
        end
    endgenerate
    assign m_axis_tkeep = {(OUT_DMA_BITS / 8){1'b1}};

    wire _unused_ok = &{1'b0, s_axis_tdata, 1'b0};   // bits above IN_BITS
endmodule
`default_nettype wire
