"""Packaging: metadata in pyproject.toml, torch pinned in one place, faiss from exactly one
extra."""

import re
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_torch_versions_are_stated_once_in_pyproject():
    deps = _project()["dependencies"]
    assert "torch==2.14.1" in deps and "torchvision==0.29.1" in deps
    for path in [
        ROOT / "Makefile",
        ROOT / "setup.py",
        *sorted((ROOT / "docker").glob("Dockerfile*")),
    ]:
        assert not re.search(r"torch(vision)?==", path.read_text()), f"{path.name} pins torch again"


def test_faiss_cpu_and_gpu_never_install_together():
    project = _project()
    assert not [d for d in project["dependencies"] if d.startswith("faiss")]
    extras = project["optional-dependencies"]
    assert [d for d in extras["cpu"] if d.startswith("faiss")] == ["faiss-cpu>=1.8"]
    assert [d for d in extras["gpu"] if d.startswith("faiss")] == ["faiss-gpu>=1.8"]
    installs = {
        "Makefile": ".[cpu,dev,pretrained]",
        "docker/Dockerfile.cpu": '-c requirements/cpu.lock ".[cpu,pretrained]"',
        "docker/Dockerfile.cuda": '-c requirements/gpu.lock ".[gpu,pretrained]"',
    }
    for name, spec in installs.items():
        text = (ROOT / name).read_text()
        assert spec in text, name
        assert len(re.findall(r"pip install[^\n]*\.\[", text)) == 1, (
            f"{name} installs the package twice"
        )


def test_the_console_script_and_packages_are_declared():
    project = _project()
    assert project["scripts"] == {"livematch": "livematch.cli:main"}
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"
    ]

    def is_package(folder: Path) -> bool:  # an __init__.py in it and in every folder above it
        rel = folder.relative_to(ROOT)
        return all(
            (ROOT.joinpath(*rel.parts[: k + 1]) / "__init__.py").is_file()
            for k in range(len(rel.parts))
        )

    found = [
        str(p.parent.relative_to(ROOT)).replace("/", ".")
        for p in ROOT.glob("*/**/__init__.py")
        if is_package(p.parent) and p.relative_to(ROOT).parts[0] not in ("tests", "bench")
    ]
    assert sorted(packages) == sorted(found)


def test_docker_check_replays_what_the_dockerfiles_install():
    """docker/check.sh (run by hand: it needs the network) parses, and each Dockerfile still
    installs the package the way the check replays it."""
    import subprocess

    assert subprocess.run(["bash", "-n", str(ROOT / "docker" / "check.sh")]).returncode == 0
    cpu = (ROOT / "docker" / "Dockerfile.cpu").read_text()
    cuda = (ROOT / "docker" / "Dockerfile.cuda").read_text()
    assert (
        "pip install --no-cache-dir --extra-index-url https://download.pytorch.org/whl/cpu "
        '-c requirements/cpu.lock ".[cpu,pretrained]"'
    ) in cpu
    assert (
        'pip install --no-cache-dir -c requirements/gpu.lock ".[gpu,pretrained]"' in cuda
        and "faiss-cpu" not in cuda
    )


def _pins(lock: str) -> dict[str, str]:
    """``name -> version`` of a lock file's ``name==version`` lines (names normalised)."""
    pins = {}
    for line in (ROOT / "requirements" / lock).read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)==([^\s;]+)", line)
        if m:
            pins[re.sub(r"[-_.]+", "-", m[1]).lower()] = m[2]
    return pins


def _name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9_.-]+", requirement)[0]).lower()


def test_the_locks_pin_every_dependency_and_make_installs_the_cpu_lock():
    """make installs exact versions (requirements/cpu.lock, written by `make lock` from
    pyproject.toml's ranges); each lock pins every dependency of its extras, torch as pyproject
    does, and faiss from its own extra only."""
    project = _project()
    extras = project["optional-dependencies"]
    for lock, groups in (
        ("cpu.lock", ("cpu", "dev", "pretrained")),
        ("gpu.lock", ("gpu", "pretrained")),
    ):
        pins = _pins(lock)
        wanted = project["dependencies"] + [d for g in groups for d in extras[g]]
        assert sorted(_name(d) for d in wanted if _name(d) not in pins) == [], lock
        assert pins["torch"] == "2.14.1" and pins["torchvision"] == "0.29.1"
    assert "faiss-cpu" in _pins("cpu.lock") and "faiss-gpu" not in _pins("cpu.lock")
    assert "faiss-gpu" in _pins("gpu.lock") and "faiss-cpu" not in _pins("gpu.lock")
    make = (ROOT / "Makefile").read_text()
    assert "pip install --quiet -r requirements/cpu.lock" in make and "--no-deps -e" in make
