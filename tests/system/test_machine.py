"""pipeline.system.machine: the CPU pin, the machine's level and the optlab.cpu.* tags."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.config.compose import compose_config, validate
from pipeline.system import machine
from tests.helpers import REPO_ROOT

V2 = {"cx16", "lahf_lm", "popcnt", "sse4_1", "sse4_2", "ssse3", "sse2"}
V3 = V2 | {"avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "movbe", "abm"}
V4 = V3 | {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"}


@pytest.mark.parametrize(
    ("flags", "level"),
    [
        (set(), "x86-64"),
        (V2, "x86-64-v2"),
        (V3 - {"fma"}, "x86-64-v2"),  # AVX2 without FMA is no v3
        (V3, "x86-64-v3"),
        (V4 - {"avx512vl"}, "x86-64-v3"),
        (V4 | {"amx_tile"}, "x86-64-v4"),
    ],
)
def test_the_level_needs_every_flag_of_it_and_below(monkeypatch, flags, level):
    monkeypatch.setattr(machine.platform, "machine", lambda: "x86_64")
    assert machine.cpu_level(frozenset(flags)) == level


def test_another_architecture_is_named_as_such(monkeypatch):
    monkeypatch.setattr(machine.platform, "machine", lambda: "aarch64")
    assert machine.cpu_level(frozenset(V4)) == "aarch64"


def test_the_flags_come_from_cpuinfo():
    text = "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu avx2 fma\n"
    assert machine.cpu_flags(text) == frozenset({"fpu", "avx2", "fma"})


@pytest.fixture
def restore_state():
    saved = dict(machine._state)
    yield
    machine._state.update(saved)


def test_the_pin_sets_what_the_user_left_unset_and_keeps_the_rest(restore_state):
    environ = {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"}
    assert machine.pin(environ) == machine.PINNED
    assert environ["TF_ENABLE_ONEDNN_OPTS"] == "0"
    assert environ["TENSORFLOW_USE_CUSTOM_CONTRACTION_KERNEL"] == "0"
    assert environ["NPY_DISABLE_CPU_FEATURES"] == "X86_V4 AVX512_ICL AVX512_SPR"
    assert environ["ONEDNN_MAX_CPU_ISA"] == "AVX512_CORE"  # the user's, kept
    assert machine.overrides(environ) == {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"}
    assert machine.promise_gap(environ) == "set by the user: ONEDNN_MAX_CPU_ISA=AVX512_CORE"


def test_native_pins_nothing(restore_state):
    environ = {machine.ISA_VARIABLE: "native"}
    assert machine.pin(environ) == machine.NATIVE
    assert environ == {machine.ISA_VARIABLE: "native"}
    assert not machine.pinned()
    assert machine.promise_gap() == "OPTLAB_CPU_ISA=native: this machine's own kernels"


def test_a_bad_choice_names_the_value_and_the_valid_ones():
    with pytest.raises(
        machine.MachineError, match=r"OPTLAB_CPU_ISA='avx9' is not one of: avx2, native"
    ):
        machine.isa_choice({machine.ISA_VARIABLE: "avx9"})


def test_the_config_check_reports_a_bad_choice(monkeypatch):
    cfg = compose_config(["dataset=iris"], config_dir=REPO_ROOT / "conf")
    monkeypatch.setenv(machine.ISA_VARIABLE, "fast")
    with pytest.raises(machine.MachineError, match="'fast'"):
        validate(cfg)


def test_the_kernels_isa_under_the_pin_and_without(restore_state):
    machine._state["mode"] = machine.PINNED
    assert machine.kernel_isa("x86-64-v4") == "avx2"
    assert machine.kernel_isa("x86-64-v3") == "avx2"
    assert machine.kernel_isa("x86-64-v2") == "sse4.2"  # the pin cannot lift it
    machine._state["mode"] = machine.NATIVE
    assert machine.kernel_isa("x86-64-v4") == "avx512"


def test_a_process_is_pinned_before_numpy_or_tensorflow_loads():
    code = (
        "import os, sys\n"
        "import pipeline\n"
        "print('numpy' in sys.modules, 'tensorflow' in sys.modules)\n"
        "print(os.environ['TENSORFLOW_USE_CUSTOM_CONTRACTION_KERNEL'])\n"
        "from numpy._core._multiarray_umath import __cpu_features__ as f\n"
        "print(f['X86_V4'])\n"
    )
    env = machine.unpinned_environ()
    del env[machine.ISA_VARIABLE]
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out == ["False", "False", "0", "False"]


def test_the_tags_describe_this_machine_and_the_run():
    tags = machine.machine_tags(1, ["model=cnn (its convolutions are Eigen's, cache-blocked)"])
    cpuinfo = Path("/proc/cpuinfo").read_text()
    vendor = next(
        line.split(":")[1].strip() for line in cpuinfo.splitlines() if line.startswith("vendor_id")
    )
    assert tags["optlab.cpu.vendor"] == vendor
    assert tags["optlab.cpu.cores"] == str(os.cpu_count())
    assert tags["optlab.cpu.threads"] == "1"
    assert tags["optlab.cpu.isa"] == "avx2"
    assert tags["optlab.cpu.numpy_dispatch"] == "X86_V3"
    assert tags["optlab.cpu.tensorflow"].startswith("2.")
    assert tags["optlab.cpu.same_bits"] == (
        "no: model=cnn (its convolutions are Eigen's, cache-blocked)"
    )
    assert machine.machine_tags(1)["optlab.cpu.same_bits"] == "yes"
