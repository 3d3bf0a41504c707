// kiln_uart_rx: 8N1 UART receiver (LSB first, idle high).
//
// The line is synchronised by two flip-flops. A falling edge starts a frame; the start bit
// is re-checked at its middle (a shorter glitch is ignored), then each data bit and the stop
// bit are sampled at their middles, CLKS_PER_BIT clock cycles apart. A good frame gives a
// one-cycle `valid` pulse with the byte on `data`; a frame whose stop bit is low gives a
// one-cycle `frame_error` pulse instead and its byte is dropped.
`default_nettype none
module kiln_uart_rx #(
    parameter integer CLKS_PER_BIT = 217    // clock cycles per bit (>= 4)
) (
    input  wire       clk,
    input  wire       rst_n,                // active-low synchronous reset
    input  wire       rx,                   // serial input, asynchronous to clk
    output reg  [7:0] data,
    output reg        valid,
    output reg        frame_error
);
    localparam integer CW = $clog2(CLKS_PER_BIT);
    localparam integer LAST = CLKS_PER_BIT - 1;
    localparam integer HALF = CLKS_PER_BIT / 2 - 1;
    localparam [1:0] IDLE = 2'd0, START = 2'd1, DATA = 2'd2, STOP = 2'd3;

    reg [1:0] sync;       // two-flop synchroniser
    reg       line_q;     // the synchronised line one cycle ago (edge detection)
    reg [1:0] state;
    reg [CW-1:0] count;   // cycles within the current bit
    reg [2:0] bit_idx;
    reg [7:0] shift;

    wire line = sync[1];

    always @(posedge clk) begin
        valid <= 1'b0;
        frame_error <= 1'b0;
        if (!rst_n) begin
            sync <= 2'b11;
            line_q <= 1'b1;
            state <= IDLE;
            count <= {CW{1'b0}};
            bit_idx <= 3'd0;
            shift <= 8'd0;
            data <= 8'd0;
        end else begin
            sync <= {sync[0], rx};
            line_q <= line;
            count <= count + 1'b1;
            case (state)
                IDLE: begin
                    count <= {CW{1'b0}};
                    if (line_q && !line) state <= START;
                end
                START: if (count == HALF[CW-1:0]) begin
                    count <= {CW{1'b0}};
                    bit_idx <= 3'd0;
                    state <= line ? IDLE : DATA;
                end
                DATA: if (count == LAST[CW-1:0]) begin
                    count <= {CW{1'b0}};
                    shift <= {line, shift[7:1]};
                    bit_idx <= bit_idx + 1'b1;
                    if (bit_idx == 3'd7) state <= STOP;
                end
                default: if (count == LAST[CW-1:0]) begin   // STOP
                    count <= {CW{1'b0}};
                    state <= IDLE;
                    if (line) begin
                        data <= shift;
                        valid <= 1'b1;
                    end else begin
                        frame_error <= 1'b1;
                    end
                end
            endcase
        end
    end
endmodule
`default_nettype wire
