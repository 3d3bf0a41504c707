// kiln_uart_bridge: whole samples over a UART, as AXI4-Stream beats.
//
// Protocol (docs/bitstream.md): a sample is a frame of IN_BEATS input beats (io_stream: one
// per pixel; io_parallel: 1). The host sends each beat as IN_BYTES = ceil(IN_BITS/8) bytes,
// least significant byte first; byte k carries bits [8k +: 8] of the beat, and the bits above
// IN_BITS are ignored. Each finished beat joins a FIFO in front of m_axis, with tlast on the
// last beat of every frame. Each beat taken from s_axis goes back as OUT_BYTES =
// ceil(OUT_BITS/8) bytes, least significant first, padded with zeros (s_axis_tlast is not
// needed: the host counts a sample's output beats).
//
// Flow control: there is none on the wire. The bridge holds IN_BEATS + 1 finished beats (a
// FIFO of IN_BEATS and the beat on m_axis); a beat that finishes while they are all taken is
// dropped whole (`overflow` pulses) and the byte count stays aligned. A host that keeps at
// most two single-beat samples, or one frame, without all their results never loses a beat,
// however slowly the design takes them. With TIMEOUT_CYCLES > 0, a partly received beat is
// discarded after that many idle cycles, so a host can resynchronise by pausing (a frame
// that lost a beat is misaligned until reset).
`default_nettype none
module kiln_uart_bridge #(
    parameter integer IN_BITS = 8,
    parameter integer OUT_BITS = 8,
    parameter integer IN_BEATS = 1,          // input beats per sample (frame)
    parameter integer CLKS_PER_BIT = 217,
    parameter integer TIMEOUT_CYCLES = 0    // 0: never discard a partial beat
) (
    input  wire                clk,
    input  wire                rst_n,
    input  wire                uart_rx,
    output wire                uart_tx,
    // beats to the design
    output reg  [IN_BITS-1:0]  m_axis_tdata,
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
    localparam integer DEPTH = IN_BEATS;                        // FIFO entries
    localparam integer AW = (DEPTH > 1) ? $clog2(DEPTH) : 1;    // FIFO address
    localparam integer CW = $clog2(DEPTH + 1);                  // FIFO fill
    localparam integer TOP = DEPTH - 1;

    // ---- receive: bytes -> one beat ------------------------------------------------------
    wire [7:0] rx_data;
    wire       rx_valid;
    kiln_uart_rx #(.CLKS_PER_BIT(CLKS_PER_BIT)) u_rx (
        .clk(clk), .rst_n(rst_n), .rx(uart_rx),
        .data(rx_data), .valid(rx_valid), .frame_error(frame_error)
    );

    reg  [ICW-1:0]    in_count;   // bytes of the current beat received so far
    wire [IN_PAD-1:0] in_beat;    // the beat this byte finishes (with last_byte)
    wire last_byte = rx_valid && (in_count == IN_LAST[ICW-1:0]);
    wire timed_out;

    generate
        if (IN_BYTES == 1) begin : g_in_one
            assign in_beat = rx_data;
        end else begin : g_in_many
            reg [IN_PAD-1:0] in_shift;   // bytes enter at the top; byte 0 ends up at [7:0]
            always @(posedge clk)
                if (rx_valid) in_shift <= in_beat;
            assign in_beat = {rx_data, in_shift[IN_PAD-1:8]};
            wire _unused_low = &{1'b0, in_shift[7:0], 1'b0};   // shifted out, never read
        end
    endgenerate

    always @(posedge clk) begin
        if (!rst_n) in_count <= {ICW{1'b0}};
        else if (last_byte || (!rx_valid && timed_out)) in_count <= {ICW{1'b0}};
        else if (rx_valid) in_count <= in_count + 1'b1;
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

    // ---- FIFO of finished beats, then the beat on m_axis ----------------------------------
    reg [IN_BITS-1:0] fifo [0:DEPTH-1];
    reg [AW-1:0]      wr_ptr, rd_ptr;
    reg [CW-1:0]      fill;
    wire out_take = m_axis_tvalid && m_axis_tready;
    wire pop = (fill != {CW{1'b0}}) && (!m_axis_tvalid || out_take);
    wire full = (fill == DEPTH[CW-1:0]) && !pop;
    wire push = last_byte && !full;

    assign sample_in = out_take;

    always @(posedge clk) begin
        if (push) fifo[wr_ptr] <= in_beat[IN_BITS-1:0];
        if (pop) m_axis_tdata <= fifo[rd_ptr];
    end

    always @(posedge clk) begin
        overflow <= 1'b0;
        if (!rst_n) begin
            wr_ptr <= {AW{1'b0}};
            rd_ptr <= {AW{1'b0}};
            fill <= {CW{1'b0}};
            m_axis_tvalid <= 1'b0;
        end else begin
            if (last_byte && full) overflow <= 1'b1;
            if (push) wr_ptr <= (wr_ptr == TOP[AW-1:0]) ? {AW{1'b0}} : wr_ptr + 1'b1;
            if (pop) rd_ptr <= (rd_ptr == TOP[AW-1:0]) ? {AW{1'b0}} : rd_ptr + 1'b1;
            if (push && !pop) fill <= fill + 1'b1;
            else if (pop && !push) fill <= fill - 1'b1;
            if (pop) m_axis_tvalid <= 1'b1;
            else if (out_take) m_axis_tvalid <= 1'b0;
        end
    end

    generate
        if (IN_BEATS > 1) begin : g_frames
            localparam integer BW = $clog2(IN_BEATS);
            localparam integer LAST_BEAT = IN_BEATS - 1;
            reg [BW-1:0] beat;   // index of the beat on m_axis within its frame
            always @(posedge clk)
                if (!rst_n) beat <= {BW{1'b0}};
                else if (out_take)
                    beat <= (beat == LAST_BEAT[BW-1:0]) ? {BW{1'b0}} : beat + 1'b1;
            assign m_axis_tlast = (beat == LAST_BEAT[BW-1:0]);
        end else begin : g_single
            assign m_axis_tlast = 1'b1;
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
    wire _unused_ok = &{1'b0, in_beat, 1'b0};
endmodule
`default_nettype wire
