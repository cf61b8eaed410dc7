"""The benchmark scripts run and end with a well-formed RESULT line (no speed asserted)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_coap_roundtrip_prints_result_line(capsys: pytest.CaptureFixture[str]) -> None:
    bench = _load("coap_roundtrip")
    figures = bench.main(["--n", "50", "--warmup", "10", "--repeats", "1", "--window", "10"])
    lines = capsys.readouterr().out.strip().splitlines()
    match = re.fullmatch(
        r"RESULT coap_rt_per_s=(\d+) echo_rt_per_s=(\d+) ratio=(\d+\.\d\d)", lines[-1]
    )
    assert match is not None, lines[-1]
    coap, echo, ratio = int(match[1]), int(match[2]), float(match[3])
    assert coap > 0 and echo > 0
    assert coap == round(figures.coap) and echo == round(figures.echo)
    assert ratio == pytest.approx(figures.coap / figures.echo, abs=0.005)
    assert figures.coap_window > 0 and figures.echo_window > 0
    assert any("10 in flight" in line for line in lines)


def test_client_read_prints_result_line(capsys: pytest.CaptureFixture[str]) -> None:
    bench = _load("client_read")
    figures = bench.main(["--n", "30", "--warmup", "5", "--repeats", "1"])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    match = re.fullmatch(
        r"RESULT read_tlv_ratio=(\d+\.\d\d) read_senml_cbor_ratio=(\d+\.\d\d)", last
    )
    assert match is not None, last
    assert float(match[1]) > 0 and float(match[2]) > 0
    # the printed ratios are the measured reads over the measured echo rate
    assert sorted(figures.reads) == ["senml_cbor", "tlv"] and figures.echo > 0
    assert float(match[1]) == pytest.approx(figures.reads["tlv"] / figures.echo, abs=0.005)
    assert float(match[2]) == pytest.approx(figures.reads["senml_cbor"] / figures.echo, abs=0.005)


def test_decode_scaling_prints_result_line(capsys: pytest.CaptureFixture[str]) -> None:
    bench = _load("decode_scaling")
    figures = bench.main(
        ["--small", "1000", "--large", "10000", "--repeats", "1", "--round", "0.002"]
    )
    lines = capsys.readouterr().out.strip().splitlines()
    match = re.fullmatch(
        r"RESULT worst_ratio=(\d+\.\d) decoder=(\S+) all_under_150=(yes|no)", lines[-1]
    )
    assert match is not None, lines[-1]
    worst = figures.worst_overall
    assert float(match[1]) == pytest.approx(worst.ratio, abs=0.05)
    assert match[2] == worst.decoder.replace(" ", "_")
    assert (match[3] == "yes") == all(f.ratio <= 150 for f in figures.worst.values())
    # every decoder of the brief is measured, each on several shapes, against the baseline
    decoders = {f.decoder for f in figures.shapes}
    for name in ("TLV", "OMA JSON", "SenML JSON", "SenML CBOR", "LwM2M CBOR", "CBOR"):
        assert name in decoders
    assert {"link format", "DDF XML", "Path.parse", "text/plain Float"} <= decoders
    assert sum(d.startswith("text/plain ") for d in decoders) == 8
    assert all(f.small > 0 and f.large > 0 for f in [*figures.shapes, figures.baseline])
    assert any(line.startswith("json.loads (baseline)") for line in lines)


@pytest.mark.parametrize(
    ("script", "pattern"),
    [
        (
            "codecs.py",
            r"RESULT tlv_ratio=\d+\.\d\d senml_json_ratio=\d+\.\d\d "
            r"senml_cbor_ratio=\d+\.\d\d lwm2m_cbor_ratio=\d+\.\d\d",
        ),
        ("dtls.py", r"RESULT handshakes_per_s=\d+ dtls_vs_udp_ratio=\d+\.\d\d"),
    ],
)
def test_script_benchmarks_print_result_line(script: str, pattern: str) -> None:
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / script)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    assert re.fullmatch(pattern, last), last


def test_fleet_benchmark_prints_result_line() -> None:
    """A small fleet (one worker, then two) against `lwm2m server`: every figure is printed."""
    args = ["--devices", "150", "--rate", "300", "--lifetime", "20", "--steady", "2"]
    args += ["--cut", "1", "--scale", "300", "--workers", "2", "--scale-rate", "300"]
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / "fleet.py"), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    match = re.fullmatch(
        r"RESULT rss_per_device_kb=(\d+\.\d) updates_per_s=(\d+) notifications_per_s=(\d+) "
        r"server_cpu_share=(\d+\.\d\d) power_cut_recovery_s=(\d+\.\d) "
        r"power_cut_peak_server_cpu=(\d+\.\d\d) scale_registered=(\d+) scale_seconds=(\d+\.\d) "
        r"server_rss_per_registration_kb=(-?\d+\.\d)",
        lines[-1],
    )
    assert match is not None, lines[-1]
    assert float(match[1]) > 0 and int(match[3]) > 0  # every device observed and notifying
    assert int(match[7]) == 300 and float(match[8]) > 0
    assert any(line.startswith("memory: 150 devices in one worker") for line in lines)
    assert any("observes 150/150 temperatures" in line for line in lines)
    assert any("all registered again" in line for line in lines)
    assert any("the server saw 300 distinct endpoints register (0 lost)" in line for line in lines)


def test_cluster_prints_result_line(capsys: pytest.CaptureFixture[str]) -> None:
    bench = _load("cluster")
    small = ["--clients", "30", "--rounds", "2", "--repeats", "1", "--reads", "10"]
    figures = bench.main([*small, "--failover-devices", "4", "--lifetime", "6"])
    lines = capsys.readouterr().out.strip().splitlines()
    match = re.fullmatch(
        r"RESULT redis_reg_ratio=(\d+\.\d\d) redis_notify_ratio=(\d+\.\d\d) "
        r"two_node_reg_ratio=(\d+\.\d\d) two_node_notify_ratio=(\d+\.\d\d) "
        r"cross_read_p50_ratio=(\d+\.\d\d) cross_read_p99_ratio=(\d+\.\d\d) "
        r"failover_s=(\d+\.\d)",
        lines[-1],
    )
    assert match is not None, lines[-1]
    ratios = figures.ratios
    assert float(match[1]) == pytest.approx(ratios["redis_reg_ratio"], abs=0.005)
    assert float(match[5]) == pytest.approx(ratios["cross_read_p50_ratio"], abs=0.005)
    assert all(float(match[i]) > 0 for i in range(1, 7))
    failover = figures.failover
    assert failover is not None and failover.moved > 0 and failover.lost == 0
    assert float(match[7]) == pytest.approx(failover.seconds, abs=0.05)
    assert any(line.startswith("one node, Redis store") for line in lines)
