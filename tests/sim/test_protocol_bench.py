"""The cocotb protocol bench: passes on the good pipeline, and catches the one that drops
samples under backpressure."""

from __future__ import annotations

import json

import pytest
from sim_helpers import pairsum, random_codes

from kiln.errors import InputShapeError
from kiln.sim import ProtocolReport, run_protocol_bench

pytestmark = pytest.mark.verilator
N = 200


@pytest.fixture(scope="module")
def good_report(rtl_dirs, verilator_tool, tmp_path_factory) -> ProtocolReport:  # type: ignore[no-untyped-def]
    x = random_codes(21, N, 64, 6, signed=True)
    return run_protocol_bench(rtl_dirs["wide_signed"], x, pairsum(x),
                              tmp_path_factory.mktemp("cocotb_good"), seed=3, n_samples=N)


def test_good_design_passes_every_test(good_report: ProtocolReport) -> None:
    r = good_report
    assert r.passed, [t.message for t in r.tests]
    assert [t.name for t in r.tests] == ["random_handshakes", "full_rate", "reset_mid_stream"]
    assert all(t.passed and t.mismatches == t.missing == t.extra == t.stale == 0
               for t in r.tests)
    assert r.mismatches == 0 and r.samples >= 3 * N
    assert r.test("random_handshakes").cycles > 1.3 * N  # the stalls really happened
    assert r.test("reset_mid_stream").samples > N  # outputs before the reset were checked too


def test_latency_and_ii_are_measured(good_report: ProtocolReport) -> None:
    assert good_report.latency == good_report.expected_latency == 3
    assert good_report.ii == 1.0 and good_report.expected_ii == 1
    assert good_report.test("full_rate").latency == (3,)
    assert good_report.test("full_rate").cycles >= N + 3


def test_report_files(good_report: ProtocolReport) -> None:
    run = good_report.work_dir / "run"
    assert (run / "results.xml").is_file()
    details = json.loads((run / "bench_report.json").read_text())
    assert set(details) == {"random_handshakes", "full_rate", "reset_mid_stream"}
    assert json.loads(json.dumps(good_report.to_dict()))["passed"] is True


def test_rerun_reuses_the_build(good_report: ProtocolReport, rtl_dirs) -> None:  # type: ignore[no-untyped-def]
    x = random_codes(22, 50, 64, 6, signed=True)
    again = run_protocol_bench(rtl_dirs["wide_signed"], x, pairsum(x), good_report.work_dir,
                               seed=4)
    assert again.passed and not again.built and again.samples >= 150


def test_wrong_expectations_fail_with_the_first_mismatch(good_report, rtl_dirs) -> None:  # type: ignore[no-untyped-def]
    x = random_codes(23, 40, 64, 6, signed=True)
    want = pairsum(x)
    want[17, 9] += 1
    r = run_protocol_bench(rtl_dirs["wide_signed"], x, want, good_report.work_dir, seed=5)
    assert not r.passed
    for t in r.tests:
        assert t.mismatches >= 1 and t.missing == 0
        assert "output 17: 1 of 64 elements differ ([9]" in t.message


def test_dropping_design_fails(rtl_dirs, verilator_tool, tmp_path) -> None:  # type: ignore[no-untyped-def]
    x = random_codes(24, N, 64, 6, signed=True)
    r = run_protocol_bench(rtl_dirs["wide_drop"], x, pairsum(x), tmp_path, seed=3)
    assert not r.passed and r.mismatches > 0
    random_test = r.test("random_handshakes")
    assert not random_test.passed and random_test.missing > 0
    assert "sample(s) dropped" in random_test.message
    assert r.test("full_rate").passed  # without backpressure it computes correctly
    assert not r.test("reset_mid_stream").passed


def test_inputs_are_checked(rtl_dirs, tmp_path) -> None:  # type: ignore[no-untyped-def]
    x = random_codes(25, 10, 64, 6, signed=True)
    with pytest.raises(InputShapeError, match=r"expected has shape \(9, 64\)"):
        run_protocol_bench(rtl_dirs["wide_signed"], x, pairsum(x)[:9], tmp_path)
    with pytest.raises(InputShapeError, match="at least 2 samples"):
        run_protocol_bench(rtl_dirs["wide_signed"], x[:1], pairsum(x)[:1], tmp_path)
