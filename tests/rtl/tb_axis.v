// AXI4-Stream test bench for kiln_top: random valid/ready, optional reset mid-stream.
// Reads samples from in.hex; prints "in <cycle> <index>" for each input handshake,
// "out <cycle> <tlast> <hex data>" for each output handshake and "reset <cycle>" where a
// mid-stream reset starts. <cycle> numbers rising clock edges. Fully synchronous (every
// state change is a non-blocking assignment at the rising edge), so Icarus and Verilator
// agree; under Verilator the clock comes from tb_axis.cpp, under Icarus from a delay.
`timescale 1ns/1ps
module tb_axis
`ifdef VERILATOR
  (input wire clk)
`endif
;
  parameter IN_BITS = 8;
  parameter OUT_BITS = 8;
  parameter N = 16;            // samples in in.hex
  parameter VALID_PCT = 100;   // chance (%) that the source offers a sample in a cycle
  parameter READY_PCT = 100;   // chance (%) that the sink is ready in a cycle
  parameter SEED = 1;
  parameter RESET_AT = -1;     // edge at which reset is held low for 3 cycles (-1: never)
  parameter DRAIN = 200;       // idle cycles after the last sample before finishing

`ifndef VERILATOR
  reg clk = 1'b0;
  always #5 clk = ~clk;
`endif

  reg rst_n = 1'b0;
  reg [IN_BITS-1:0] samples [0:N-1];
  reg [IN_BITS-1:0] s_tdata = 0;
  reg s_tvalid = 1'b0;
  reg s_tlast = 1'b0;
  reg m_tready = 1'b0;
  wire s_tready;
  wire [OUT_BITS-1:0] m_tdata;
  wire m_tvalid;
  wire m_tlast;
  integer seed = SEED;
  integer cycle = 0;
  integer next = 0;
  integer idle = 0;
  integer taken;

  kiln_top dut (
    .clk(clk), .rst_n(rst_n),
    .s_axis_tdata(s_tdata), .s_axis_tvalid(s_tvalid), .s_axis_tready(s_tready),
    .s_axis_tlast(s_tlast),
    .m_axis_tdata(m_tdata), .m_axis_tvalid(m_tvalid), .m_axis_tready(m_tready),
    .m_axis_tlast(m_tlast)
  );

  initial $readmemh("in.hex", samples);

  always @(posedge clk) begin
    if (RESET_AT >= 0 && cycle == RESET_AT) $display("reset %0d", cycle);
    if (s_tvalid && s_tready) $display("in %0d %0d", cycle, next);
    if (m_tvalid && m_tready) $display("out %0d %0d %h", cycle, m_tlast, m_tdata);
    taken = next + ((s_tvalid && s_tready) ? 1 : 0);
    next <= taken;
    cycle <= cycle + 1;
    rst_n <= !(cycle + 1 < 3 || (RESET_AT >= 0 && cycle + 1 >= RESET_AT
                                 && cycle + 1 < RESET_AT + 3));
    if (!s_tvalid || s_tready) begin  // AXI4-Stream: hold an offered sample until taken
      s_tvalid <= (taken < N) && ({$random(seed)} % 100 < VALID_PCT);
      if (taken < N) begin
        s_tdata <= samples[taken];
        s_tlast <= (taken % 5) == 4;
      end
    end
    m_tready <= {$random(seed)} % 100 < READY_PCT;
    idle <= ((s_tvalid && s_tready) || (m_tvalid && m_tready)) ? 0 : idle + 1;
    if ((next >= N && idle > DRAIN) || cycle > 100000) $finish;
  end
endmodule
