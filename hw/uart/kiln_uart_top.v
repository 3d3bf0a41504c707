// kiln_uart_top: the board top for open-toolchain boards (ECP5, iCE40).
//
// kiln_top behind a UART bridge (kiln_uart_bridge.v; the protocol is in docs/bitstream.md).
// Reset: a power-on reset of 16 cycles, then the board's reset button (synchronised; its
// polarity is RST_ACTIVE_LOW). LEDs (polarity LED_ACTIVE_LOW), as many as the board has, up
// to four: led[0] heartbeat (about 1 Hz), led[1] error (a dropped beat or a bad UART
// frame, held until reset), led[2] toggles per beat in, led[3] toggles per result beat out.
`default_nettype none
module kiln_uart_top #(
    parameter integer CLK_HZ = 25000000,
    parameter integer BAUD = 115200,
    parameter integer CLKS_PER_BIT = (CLK_HZ + BAUD / 2) / BAUD,
    parameter integer TIMEOUT_CYCLES = CLK_HZ / 10,   // partial sample dropped after 100 ms
    parameter integer IN_BITS = 8,                    // kiln_top's s_axis_tdata width
    parameter integer OUT_BITS = 8,                   // kiln_top's m_axis_tdata width
    parameter integer IN_BEATS = 1,                   // kiln_top's input beats per sample
    parameter integer LEDS = 4,
    parameter integer RST_ACTIVE_LOW = 0,
    parameter integer LED_ACTIVE_LOW = 0
) (
    input  wire            clk,
    input  wire            rst_btn,
    input  wire            uart_rx,
    output wire            uart_tx,
    output wire [LEDS-1:0] led
);
    // ---- reset ------------------------------------------------------------------------------
    reg [3:0] por;        // counts up from configuration; reset is held until it is full
    reg [1:0] btn_sync;
    reg       rst_n;
    initial begin         // FPGA flip-flops take these values at configuration
        por = 4'd0;
        btn_sync = 2'b00;
        rst_n = 1'b0;
    end
    wire      btn_pressed = btn_sync[1] ^ (RST_ACTIVE_LOW != 0);
    always @(posedge clk) begin
        btn_sync <= {btn_sync[0], rst_btn};
        if (por != 4'hf) por <= por + 1'b1;
        rst_n <= (por == 4'hf) && !btn_pressed;
    end

    // ---- bridge and design ------------------------------------------------------------------
    wire [IN_BITS-1:0]  in_tdata;
    wire                in_tvalid, in_tready, in_tlast;
    wire [OUT_BITS-1:0] out_tdata;
    wire                out_tvalid, out_tready, out_tlast;
    wire                sample_in, sample_out, overflow, frame_error;

    kiln_uart_bridge #(
        .IN_BITS(IN_BITS), .OUT_BITS(OUT_BITS), .IN_BEATS(IN_BEATS), .CLKS_PER_BIT(CLKS_PER_BIT),
        .TIMEOUT_CYCLES(TIMEOUT_CYCLES)
    ) u_bridge (
        .clk(clk), .rst_n(rst_n), .uart_rx(uart_rx), .uart_tx(uart_tx),
        .m_axis_tdata(in_tdata), .m_axis_tvalid(in_tvalid), .m_axis_tready(in_tready),
        .m_axis_tlast(in_tlast),
        .s_axis_tdata(out_tdata), .s_axis_tvalid(out_tvalid), .s_axis_tready(out_tready),
        .sample_in(sample_in), .sample_out(sample_out), .overflow(overflow),
        .frame_error(frame_error)
    );

    kiln_top u_kiln (
        .clk(clk), .rst_n(rst_n),
        .s_axis_tdata(in_tdata), .s_axis_tvalid(in_tvalid), .s_axis_tready(in_tready),
        .s_axis_tlast(in_tlast),
        .m_axis_tdata(out_tdata), .m_axis_tvalid(out_tvalid), .m_axis_tready(out_tready),
        .m_axis_tlast(out_tlast)
    );

    // ---- status LEDs ------------------------------------------------------------------------
    localparam integer HB_HALF = (CLK_HZ / 2 > 1) ? CLK_HZ / 2 : 2;
    localparam integer HW = $clog2(HB_HALF);
    localparam integer HB_LAST = HB_HALF - 1;
    reg [HW-1:0] hb_count;
    reg [3:0]    status;   // heartbeat, error, sample in, result out
    always @(posedge clk) begin
        if (!rst_n) begin
            hb_count <= {HW{1'b0}};
            status <= 4'd0;
        end else begin
            hb_count <= (hb_count == HB_LAST[HW-1:0]) ? {HW{1'b0}} : hb_count + 1'b1;
            if (hb_count == HB_LAST[HW-1:0]) status[0] <= !status[0];
            if (overflow || frame_error) status[1] <= 1'b1;
            if (sample_in) status[2] <= !status[2];
            if (sample_out) status[3] <= !status[3];
        end
    end

    genvar i;
    generate
        for (i = 0; i < LEDS; i = i + 1) begin : g_led
            if (i < 4) begin : g_used
                assign led[i] = status[i] ^ (LED_ACTIVE_LOW != 0);
            end else begin : g_off
                assign led[i] = (LED_ACTIVE_LOW != 0);
            end
        end
    endgenerate

    wire _unused_ok = &{1'b0, out_tlast, status, BAUD[0], 1'b0};   // LEDS < 4; CLKS_PER_BIT given
endmodule
`default_nettype wire
