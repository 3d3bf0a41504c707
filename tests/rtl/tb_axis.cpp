// Clock for tb_axis.v under Verilator: toggles clk until the bench calls $finish.
#include "Vtb_axis.h"
#include "verilated.h"

int main(int argc, char** argv) {
    VerilatedContext context;
    context.commandArgs(argc, argv);
    Vtb_axis top(&context);
    top.clk = 0;
    top.eval();
    while (!context.gotFinish()) {
        top.clk = !top.clk;
        top.eval();
    }
    top.final();
    return 0;
}
