# tclsh driver.tcl BUILD_TCL CALLS_OUT HWH WNS BOARD_PARTS: run build.tcl with the stubs and
# write the recorded Vivado calls, one Tcl list per line.
lassign $argv build_tcl calls_out ::stub_hwh ::stub_wns ::stub_board_parts
source [file join [file dirname [info script]] stub.tcl]
set status [catch {source $build_tcl} message]
set out [open $calls_out w]
foreach call $::kiln_calls { puts $out $call }
close $out
if {$status} {
    puts stderr "build.tcl failed: $message"
    exit 1
}
