"""pipeline.doctor: the reference runs, and the same bits on machines imitated here.

The slow test trains some references in fresh processes, each imitating another
machine: oneDNN capped below AVX2, NumPy without its AVX2 loops, one core, more
threads asked for than there are cores. Under the pin each must give the committed
bits; without it (OPTLAB_CPU_ISA=native) they must not, which shows the pin at work.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pipeline.config.schemas import OPTION_SCHEMAS
from pipeline.reproducibility import doctor
from pipeline.system import machine
from tests.helpers import REPO_ROOT

SOME = "iris/relu/adam,mnist/swish/adam,mnist/gelu/adam,mnist/relu/sgd"


def test_the_references_cover_every_activation_and_optimizer():
    names = [ref.name for ref in doctor.references()]
    assert len(names) == len(set(names))
    assert {n.split("/")[1] for n in names if n.endswith("/adam")} >= set(
        OPTION_SCHEMAS["activation"]
    )
    assert {n.split("/")[2] for n in names if "/relu/" in n} == set(OPTION_SCHEMAS["optimizer"])
    recorded = json.loads(doctor.REFERENCES.read_text())
    assert sorted(recorded["references"]) == sorted(names)
    assert recorded["machine"]["same_bits"] == "yes"  # made under the pin


def test_the_verdict_names_what_differs_and_what_to_check():
    recorded = json.loads(doctor.REFERENCES.read_text())
    found = {name: dict(h) for name, h in list(recorded["references"].items())[:3]}
    ok, text = doctor.verdict(found, recorded)
    assert ok and text.startswith("this machine reproduces the 3 references bit for bit")
    name = next(iter(found))
    found[name]["weights"] = "0" * 64
    ok, text = doctor.verdict(found, recorded)
    assert not ok
    assert text.splitlines()[0].startswith("1 of 3 references differ from those made on")
    assert f"  {name}: weights" in text
    assert "this machine: " in text and "TENSORFLOW_USE_CUSTOM_CONTRACTION_KERNEL" in text


def test_an_unknown_reference_is_one_line_with_the_valid_names():
    with pytest.raises(ValueError, match=r"unknown reference 'mnist/nope'; valid references: iris"):
        doctor.run("mnist/nope")


def _doctor(env: dict[str, str], prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    base = machine.unpinned_environ()  # the child pins itself, or not, as env says
    del base[machine.ISA_VARIABLE]
    return subprocess.run(
        [*prefix, sys.executable, "-m", "pipeline.doctor", "--only", SOME],
        cwd=REPO_ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_a_bad_cpu_choice_is_one_line_before_any_training():
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.doctor"],
        cwd=REPO_ROOT,
        env={**machine.unpinned_environ(), machine.ISA_VARIABLE: "avx9"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.splitlines()[0] == (
        "error: OPTLAB_CPU_ISA='avx9' is not one of: avx2, native"
    )
    assert done.stdout == ""


IMITATIONS = {
    "this machine": ({}, ()),
    "oneDNN capped to SSE4.1": ({"ONEDNN_MAX_CPU_ISA": "SSE41"}, ()),
    "NumPy without AVX2 loops": ({"NPY_DISABLE_CPU_FEATURES": "X86_V3 X86_V4"}, ()),
    "one core": ({}, ("taskset", "-c", "0")),
    "more threads asked than cores": (
        {"TF_NUM_INTRAOP_THREADS": "8", "TF_NUM_INTEROP_THREADS": "8"},
        (),
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("imitation", sorted(IMITATIONS))
def test_an_imitated_machine_reproduces_the_references(imitation):
    env, prefix = IMITATIONS[imitation]
    done = _doctor(env, prefix)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    assert done.stdout.startswith("this machine reproduces the 4 references bit for bit")


@pytest.mark.slow
def test_without_the_pin_the_references_differ():
    done = _doctor({machine.ISA_VARIABLE: "native"})
    assert done.returncode == 1, done.stderr[-2000:]
    assert "references differ from those made on" in done.stdout
    assert "same bits promised here: no: OPTLAB_CPU_ISA=native" in done.stdout
