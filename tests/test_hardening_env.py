"""The versions shipped are the versions tested: constraints.txt pins every package `./run` installs,
the pins satisfy pyproject.toml's ranges, and what is installed here is exactly what is pinned."""
import importlib.metadata as metadata
import re
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from kb import ROOT

NOT_PINNED = {"pip", "council-transformation-kb"}


def pins() -> dict[str, str]:
    out = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = re.fullmatch(r"([A-Za-z0-9_.\-]+)==(\S+)", line).groups()
            out[canonicalize_name(name)] = version
    return out


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [Requirement(r) for r in project["dependencies"] + sum(project["optional-dependencies"].values(), [])]


def test_every_declared_dependency_is_pinned_inside_its_range():
    pinned = pins()
    for requirement in declared():
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{requirement.name} is not in constraints.txt"
        assert requirement.specifier.contains(Version(pinned[name]), prereleases=True), (requirement, pinned[name])


def test_torch_stays_exactly_2_13_0():
    assert pins()["torch"] == "2.13.0"
    assert any(str(r) == "torch==2.13.0" for r in declared())


def test_installed_versions_are_the_pinned_ones():
    pinned = pins()
    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions()}
    stale = {name: (version, pinned.get(name)) for name, version in installed.items()
             if name not in NOT_PINNED and Version(version).public != pinned.get(name)}
    assert stale == {}, "installed (version, pinned) differ; regenerate constraints.txt as its header says"


def test_run_installs_from_the_constraints():
    script = (ROOT / "run").read_text(encoding="utf-8")
    installs = [line for line in script.splitlines() if "pip\" install" in line]
    assert installs and all("-c constraints.txt" in line for line in installs)
