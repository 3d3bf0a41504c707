// kiln_uart_tx: 8N1 UART transmitter (LSB first, idle high).
//
// A byte is taken when `valid` and `ready` are both high at a rising clock edge (the
// AXI4-Stream rule); it is sent as a start bit, 8 data bits and a stop bit, each
// CLKS_PER_BIT clock cycles long. `ready` is high whenever the transmitter is idle.
`default_nettype none
module kiln_uart_tx #(
    parameter integer CLKS_PER_BIT = 217    // clock cycles per bit (>= 2)
) (
    input  wire       clk,
    input  wire       rst_n,                // active-low synchronous reset
    input  wire [7:0] data,
    input  wire       valid,
    output wire       ready,
    output wire       tx                    // serial output, registered
);
    localparam integer CW = $clog2(CLKS_PER_BIT);
    localparam integer LAST = CLKS_PER_BIT - 1;

    reg [8:0]    frame;   // {stop, data}: frame[0] goes on the line at the next bit
    reg [3:0]    left;    // bits still to send, including the one on the line
    reg [CW-1:0] count;
    reg          line;

    initial line = 1'b1;   // idle from configuration on, before the first reset

    assign ready = (left == 4'd0);
    assign tx = line;

    always @(posedge clk) begin
        if (!rst_n) begin
            frame <= 9'h1ff;
            left <= 4'd0;
            count <= {CW{1'b0}};
            line <= 1'b1;
        end else if (left == 4'd0) begin
            line <= 1'b1;
            if (valid) begin
                frame <= {1'b1, data};
                left <= 4'd10;
                count <= {CW{1'b0}};
                line <= 1'b0;   // start bit
            end
        end else if (count == LAST[CW-1:0]) begin
            count <= {CW{1'b0}};
            left <= left - 1'b1;
            frame <= {1'b1, frame[8:1]};
            line <= (left == 4'd1) ? 1'b1 : frame[0];
        end else begin
            count <= count + 1'b1;
        end
    end
endmodule
`default_nettype wire
