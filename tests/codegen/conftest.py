"""Shared fixtures of the codegen tests: the laws that go through the generator, built once."""

from __future__ import annotations

import pathlib

import pytest

from cerebellum_rt.codegen import build

#: Every law of the project that must go through the generator (add new ones as they land).
LAWS = [
    "cerebellum_rt.codegen.examples.pi:pi_step",
    "cerebellum_rt.codegen.examples.semantics:sem_step",
    "cerebellum_rt.codegen.examples.ur5:ur5_fk_step",
    "cerebellum_rt.codegen.examples.ur5:ur5_fk_jac_step",
    "cerebellum_rt.actuators.joint.foc:foc_step",
    "cerebellum_rt.actuators.joint.cascade:cascade_step",
    "cerebellum_rt.actuators.hand.laws:screw_position_step",
    "cerebellum_rt.actuators.hand.laws:screw_tension_observer_step",
    "cerebellum_rt.actuators.hand.laws:tendon_tension_step",
    "cerebellum_rt.actuators.hand.laws:grasp_force_step",
    "cerebellum_rt.actuators.hand.laws:coupled_joint_step",
    "cerebellum_rt.actuators.hand.laws:slack_step",
    "cerebellum_rt.drivers.cia402:cia402_step",
    "cerebellum_rt.codegen.examples.wholebody:wholebody_step",
    "cerebellum_rt.kinematics.limb_law:limb_fk_step",
]

#: Laws written for the fidelity tests in plain Python style (no f32 around literals).
PLAIN = [
    "cerebellum_rt.codegen.examples.plain:leadlag_pi_step",
    "cerebellum_rt.codegen.examples.plain:mixer_step",
    "cerebellum_rt.codegen.examples.plain:deadband_step",
]



def pytest_generate_tests(metafunc):
    """Tests taking ``spec`` run once per law of LAWS."""
    if "spec" in metafunc.fixturenames:
        metafunc.parametrize("spec", LAWS)
    if "fspec" in metafunc.fixturenames:
        metafunc.parametrize("fspec", LAWS + PLAIN)


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
