"""Shared fixtures of the codegen tests: the laws that go through the generator, built once."""

from __future__ import annotations

import pathlib

import pytest

from codegen import build

#: Every law of the project that must go through the generator (add new ones as they land).
LAWS = [
    "codegen.examples.pi:pi_step",
    "codegen.examples.semantics:sem_step",
    "codegen.examples.ur5:ur5_fk_step",
    "codegen.examples.ur5:ur5_fk_jac_step",
    "actuators.joint.foc:foc_step",
    "actuators.joint.cascade:cascade_step",
    "actuators.hand.laws:screw_position_step",
    "actuators.hand.laws:screw_tension_observer_step",
    "actuators.hand.laws:tendon_tension_step",
    "actuators.hand.laws:grasp_force_step",
    "actuators.hand.laws:coupled_joint_step",
    "actuators.hand.laws:slack_step",
    "drivers.cia402:cia402_step",
    "rtcore.wholebody:wholebody_step",
    "kinematics.limb_law:limb_fk_step",
]



def pytest_generate_tests(metafunc):
    """Tests taking ``spec`` run once per law of LAWS."""
    if "spec" in metafunc.fixturenames:
        metafunc.parametrize("spec", LAWS)


_generated: dict[str, build.Generated] = {}
_sil: dict[str, build.Sil] = {}


@pytest.fixture(scope="session")
def codegen_dir():
    """A stable directory (build/ is git-ignored), so numba and cffi reuse earlier builds."""
    path = pathlib.Path(__file__).resolve().parents[2] / "build" / "codegen-tests"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def generated(codegen_dir):
    """spec -> Generated (C files and the loaded Python reference), cached for the session."""

    def get(spec: str) -> build.Generated:
        if spec not in _generated:
            out = codegen_dir / spec.replace(":", "_").replace(".", "_")
            _generated[spec] = build.generate(build.load_law(spec), str(out))
        return _generated[spec]

    return get


@pytest.fixture
def sil(generated):
    """spec -> the host build loaded through cffi, cached for the session."""

    def get(spec: str) -> build.Sil:
        if spec not in _sil:
            _sil[spec] = build.build_host(generated(spec))
        return _sil[spec]

    return get
