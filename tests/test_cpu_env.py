"""The CPU pinning that makes trained numbers repeat across x86-64 machines."""

from __future__ import annotations

import platform

import pytest

from recsae.course import cpu_env


def test_pins_what_is_not_set_and_keeps_what_is(monkeypatch):
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(cpu_env, "_cpu_has_avx2_and_fma", lambda: True)
    environ = {"OMP_NUM_THREADS": "4"}
    added = cpu_env.pin_cpu_env(environ)
    assert environ["OMP_NUM_THREADS"] == "4" and "OMP_NUM_THREADS" not in added
    assert environ["MKL_CBWR"] == "AVX2" and environ["ATEN_CPU_CAPABILITY"] == "avx2"
    assert set(added) == set(cpu_env.PINNED_CPU_ENV) - {"OMP_NUM_THREADS"}


@pytest.mark.parametrize("machine, avx2", [("aarch64", True), ("x86_64", False)])
def test_pins_only_threads_where_avx2_kernels_cannot_run(monkeypatch, machine, avx2):
    monkeypatch.setattr(platform, "machine", lambda: machine)
    monkeypatch.setattr(cpu_env, "_cpu_has_avx2_and_fma", lambda: avx2)
    environ: dict[str, str] = {}
    assert cpu_env.pin_cpu_env(environ) == {"OMP_NUM_THREADS": "1"} == environ


def test_reads_the_cpu_flags(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx fma avx2 bmi2\n")
    assert cpu_env._cpu_has_avx2_and_fma(cpuinfo)
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx\n")  # an older CPU
    assert not cpu_env._cpu_has_avx2_and_fma(cpuinfo)
    assert not cpu_env._cpu_has_avx2_and_fma(tmp_path / "missing")
