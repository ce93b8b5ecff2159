"""hostcheck: the one rule that says which virtual-package requirements a host fails."""

from __future__ import annotations

from conda_wheel_bridge.hostcheck import requirement_met, spec_name, unmet_virtual_requirements
from conda_wheel_bridge.model import VirtualPackage

HOST = {
    "__cuda": VirtualPackage("__cuda", "12.4"),
    "__archspec": VirtualPackage("__archspec", "1", "zen4"),
    "__glibc": VirtualPackage("__glibc", "2.28"),
}


def test_reasons_name_the_failing_part() -> None:
    assert unmet_virtual_requirements(
        ["python >=3.10", "__cuda >=12.8", "__win", "__archspec * skylake", "__glibc >=2.17"],
        HOST,
    ) == [
        "needs `__cuda >=12.8`, host has 12.4",
        "needs `__win`, host has no __win",
        "needs `__archspec * skylake`, host has build zen4",
    ]


def test_regex_builds_are_judged_as_conda_judges_them() -> None:
    """CEP 29 regex builds: a glob comparison would call this host unfit."""
    assert requirement_met("__archspec * ^(skylake|zen4)$", HOST["__archspec"])
    assert unmet_virtual_requirements(["__archspec * ^(skylake|zen4)$"], HOST) == []


def test_conditional_dependencies_are_left_to_the_solver() -> None:
    assert unmet_virtual_requirements(['__cuda >=13[when="python >=3.99"]'], HOST) == []


def test_spec_name() -> None:
    assert [spec_name(s) for s in ("__cuda>=12", "numpy 2.*", "__win", "a[when='b']")] == [
        "__cuda", "numpy", "__win", "a"]
