// Test bench for combinational kiln.rtl test modules: drives every code of x, prints y in hex.
`timescale 1ns/1ps
module tb_comb;
  parameter IN_W = 8;
  parameter OUT_W = 8;
  reg [IN_W-1:0] x;
  wire [OUT_W-1:0] y;
  integer i;

  dut_comb dut (.x(x), .y(y));

  initial begin
    for (i = 0; i < (1 << IN_W); i = i + 1) begin
      x = i;
      #1;
      $display("%h", y);
    end
    $finish;
  end
endmodule
