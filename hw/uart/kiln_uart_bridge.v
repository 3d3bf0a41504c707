// kiln_uart_bridge: whole samples over a UART, one AXI4-Stream beat per sample.
//
// Protocol (docs/bitstream.md): the host sends each input sample as IN_BYTES = ceil(IN_BITS/8)
// bytes, least significant byte first; byte k carries bits [8k +: 8] of the beat, and the
// bits above IN_BITS are ignored. When the last byte of a sample arrives the bridge offers
// the beat on m_axis (tlast = 1: one beat is one sample). Each beat taken from s_axis goes
// back as OUT_BYTES = ceil(OUT_BITS/8) bytes, least significant first, padded with zeros.
//
// Flow control: there is none on the wire. A sample whose bytes arrive while the previous
// beat is still waiting for m_axis_tready is dropped whole (`overflow` pulses) and the byte
// count stays aligned. A host that keeps at most two samples in flight never loses one.
// With TIMEOUT_CYCLES > 0, a partly received sample is discarded after that many idle
// cycles, so a host can resynchronise by pausing.
`default_nettype none
module kiln_uart_bridge #(
    parameter integer IN_BITS = 8,
    parameter integer OUT_BITS = 8,
    parameter integer CLKS_PER_BIT = 217,
    parameter integer TIMEOUT_CYCLES = 0    // 0: never discard a partial sample
) (
    input  wire                clk,
    input  wire                rst_n,
    input  wire                uart_rx,
    output wire                uart_tx,
    // samples to the design
    output wire [IN_BITS-1:0]  m_axis_tdata,
    output reg                 m_axis_tvalid,
    input  wire                m_axis_tready,
    output wire                m_axis_tlast,
    // results from the design
    input  wire [OUT_BITS-1:0] s_axis_tdata,
    input  wire                s_axis_tvalid,
    output wire                s_axis_tready,
    // one-cycle status pulses (LEDs)
    output wire                sample_in,
    output wire                sample_out,
    output reg                 overflow,
    output wire                frame_error
);
    localparam integer IN_BYTES = (IN_BITS + 7) / 8;
    localparam integer OUT_BYTES = (OUT_BITS + 7) / 8;
    localparam integer IN_PAD = IN_BYTES * 8;
    localparam integer OUT_PAD = OUT_BYTES * 8;
    localparam integer ICW = $clog2(IN_BYTES + 1);
    localparam integer OCW = $clog2(OUT_BYTES + 1);
    localparam integer IN_LAST = IN_BYTES - 1;
    localparam integer OUT_ALL = OUT_BYTES;

    // ---- receive: bytes -> one beat ------------------------------------------------------
    wire [7:0] rx_data;
    wire       rx_valid;
    kiln_uart_rx #(.CLKS_PER_BIT(CLKS_PER_BIT)) u_rx (
        .clk(clk), .rst_n(rst_n), .rx(uart_rx),
        .data(rx_data), .valid(rx_valid), .frame_error(frame_error)
    );

    reg [IN_PAD-1:0] in_shift;   // bytes enter at the top: after IN_BYTES, byte 0 is at [7:0]
    reg [ICW-1:0]    in_count;   // bytes of the current sample received so far
    reg              in_drop;    // the current sample met a pending beat: drop it
    wire pending = m_axis_tvalid && !m_axis_tready;
    wire last_byte = rx_valid && (in_count == IN_LAST[ICW-1:0]);
    wire timed_out;

    assign m_axis_tdata = in_shift[IN_BITS-1:0];
    assign m_axis_tlast = 1'b1;
    assign sample_in = m_axis_tvalid && m_axis_tready;

    generate
        if (IN_BYTES == 1) begin : g_in_one
            always @(posedge clk)
                if (rx_valid && !pending) in_shift <= rx_data;
        end else begin : g_in_many
            always @(posedge clk)
                if (rx_valid && !pending) in_shift <= {rx_data, in_shift[IN_PAD-1:8]};
        end
    endgenerate

    always @(posedge clk) begin
        overflow <= 1'b0;
        if (!rst_n) begin
            in_count <= {ICW{1'b0}};
            in_drop <= 1'b0;
            m_axis_tvalid <= 1'b0;
        end else begin
            if (m_axis_tvalid && m_axis_tready) m_axis_tvalid <= 1'b0;
            if (rx_valid) begin
                if (last_byte) begin
                    in_count <= {ICW{1'b0}};
                    in_drop <= 1'b0;
                    if (in_drop || pending) overflow <= 1'b1;
                    else m_axis_tvalid <= 1'b1;
                end else begin
                    in_count <= in_count + 1'b1;
                    if (pending) in_drop <= 1'b1;
                end
            end else if (timed_out) begin
                in_count <= {ICW{1'b0}};
                in_drop <= 1'b0;
            end
        end
    end

    generate
        if (TIMEOUT_CYCLES > 0) begin : g_timeout
            localparam integer TW = $clog2(TIMEOUT_CYCLES + 1);
            reg [TW-1:0] idle;
            always @(posedge clk)
                if (!rst_n || rx_valid || in_count == {ICW{1'b0}}) idle <= {TW{1'b0}};
                else if (!timed_out) idle <= idle + 1'b1;
            assign timed_out = (idle == TIMEOUT_CYCLES[TW-1:0]);
        end else begin : g_no_timeout
            assign timed_out = 1'b0;
        end
    endgenerate

    // ---- transmit: one beat -> bytes -----------------------------------------------------
    reg  [OUT_PAD-1:0] out_shift;   // byte on the way out is at [7:0]
    reg  [OCW-1:0]     out_left;    // bytes of the current beat not yet handed to the UART
    wire               tx_ready;
    wire               tx_take = tx_ready && (out_left != {OCW{1'b0}});

    assign s_axis_tready = (out_left == {OCW{1'b0}});
    assign sample_out = s_axis_tvalid && s_axis_tready;

    kiln_uart_tx #(.CLKS_PER_BIT(CLKS_PER_BIT)) u_tx (
        .clk(clk), .rst_n(rst_n), .data(out_shift[7:0]),
        .valid(out_left != {OCW{1'b0}}), .ready(tx_ready), .tx(uart_tx)
    );

    generate
        if (OUT_PAD == OUT_BITS) begin : g_out_exact
            always @(posedge clk)
                if (sample_out) out_shift <= s_axis_tdata;
                else if (tx_take) out_shift <= out_shift >> 8;
        end else begin : g_out_padded
            always @(posedge clk)
                if (sample_out) out_shift <= {{(OUT_PAD - OUT_BITS){1'b0}}, s_axis_tdata};
                else if (tx_take) out_shift <= out_shift >> 8;
        end
    endgenerate

    always @(posedge clk) begin
        if (!rst_n) out_left <= {OCW{1'b0}};
        else if (sample_out) out_left <= OUT_ALL[OCW-1:0];
        else if (tx_take) out_left <= out_left - 1'b1;
    end

    // the padding bits above IN_BITS never reach the design
    wire _unused_ok = &{1'b0, in_shift, 1'b0};
endmodule
`default_nettype wire
