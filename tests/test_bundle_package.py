"""A releasable package: the wheel and the sdist, built from a copy of the project, installed into a
fresh virtual environment outside the repository, where ``velo-tracker generate`` and
``velo-tracker check --strict`` must work; the sdist is complete and its tests run.

Building uses an isolated build environment and installing the ``[bundle]`` extra fetches its
dependencies: both need the package index.
"""

from __future__ import annotations

import email
import os
import shutil
import subprocess
import sys
import tarfile
import venv
import zipfile

import pytest

from tests.support import PROJECT_ROOT, require_binary
from tracker import __version__

IGNORED = (".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis", "build", "dist",
           "*.egg-info", ".env", "*.pyc")
TIMEOUT = 900


def run(*args, cwd, env=None):
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd,
                            env=env, timeout=TIMEOUT)
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def dists(tmp_path_factory):
    """The sdist and the wheel, built as a release would be (the wheel from the sdist)."""
    root = tmp_path_factory.mktemp("package")
    source = root / "source"
    shutil.copytree(PROJECT_ROOT, source, ignore=shutil.ignore_patterns(*IGNORED))
    run(sys.executable, "-m", "build", "--outdir", root / "dist", source, cwd=root)
    (sdist,) = (root / "dist").glob("*.tar.gz")
    (wheel,) = (root / "dist").glob("*.whl")
    return sdist, wheel


def repository_files() -> set[str]:
    if (PROJECT_ROOT / ".git").exists() and shutil.which("git"):
        listed = subprocess.run(["git", "ls-files"], capture_output=True, text=True, cwd=PROJECT_ROOT,
                                timeout=60, check=True).stdout.split()
        return {name for name in listed if (PROJECT_ROOT / name).is_file()}
    # An unpacked sdist: what it holds must be in a rebuilt sdist too.
    found = set()
    for path in PROJECT_ROOT.rglob("*"):
        relative = path.relative_to(PROJECT_ROOT)
        if path.is_file() and not any(relative.match(p) or p.strip("*") in relative.parts for p in IGNORED):
            found.add(relative.as_posix())
    generated_by_the_build = {"PKG-INFO", "setup.cfg"}
    return {f for f in found if f not in generated_by_the_build and not f.startswith("velo_tracker.egg-info")}


def test_the_sdist_holds_every_file_of_the_project(dists):
    sdist, _ = dists
    with tarfile.open(sdist) as archive:
        top = f"velo_tracker-{__version__}/"
        names = {n.removeprefix(top) for n in archive.getnames()}
    missing = repository_files() - names
    assert not missing, sorted(missing)
    for needed in ("LICENSE", "tests/conftest.py", "tests/servers.py", "tests/support.py",
                   "bundle.example.yml", "tracker/bundle/schemas/dashboard.jsonschema.json"):
        assert needed in names


def test_the_wheel_carries_the_license_the_schemas_and_user_facing_metadata(dists):
    _, wheel = dists
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = f"velo_tracker-{__version__}.dist-info"
        metadata = email.message_from_bytes(archive.read(f"{info}/METADATA"))
    assert f"{info}/licenses/LICENSE" in names
    assert f"{info}/licenses/tracker/bundle/schemas/LICENSE" in names
    for schema in ("dashboard", "prometheus", "stat", "table", "timeseries"):
        assert f"tracker/bundle/schemas/{schema}.jsonschema.json" in names
    assert "tracker/py.typed" in names
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata["Version"] == __version__
    classifiers = metadata.get_all("Classifier")
    assert "Topic :: System :: Monitoring" in classifiers and "Typing :: Typed" in classifiers
    assert metadata.get_all("Project-URL") is None  # no address that does not exist
    description = metadata.get_payload()
    assert "pip install velo-tracker" in description
    assert "CONTRIBUTING.md" in description  # development notes live there


def test_the_installed_wheel_generates_and_checks_a_bundle_outside_the_repository(dists, tmp_path):
    require_binary("promtool", "prometheus")
    _, wheel = dists
    environment = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(environment)
    bin_dir = environment / "bin"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run(bin_dir / "python", "-m", "pip", "install", "-q", f"{wheel}[bundle]", cwd=elsewhere, env=env)
    where = run(bin_dir / "python", "-c", "import tracker; print(tracker.__file__)", cwd=elsewhere, env=env)
    assert str(environment) in where.stdout and str(PROJECT_ROOT) not in where.stdout
    version = run(bin_dir / "velo-tracker", "--version", cwd=elsewhere, env=env)
    assert version.stdout.strip() == f"velo-tracker {__version__}"
    out = elsewhere / "monitoring"
    run(bin_dir / "velo-tracker", "generate", "--namespace", "billing", "--out", out, cwd=elsewhere, env=env)
    assert (out / "dashboards" / "billing-error-tracking.json").is_file()
    assert (out / "k8s" / "billing-error-tracking.prometheusrule.yml").is_file()
    check = run(bin_dir / "velo-tracker", "check", "--strict", "--dir", out, cwd=elsewhere, env=env)
    assert "ok    dashboard schemas" in check.stdout
    assert "ok    promtool test rules" in check.stdout
    assert "bundle check passed" in check.stdout and "skip" not in check.stdout


def test_the_sdists_tests_collect_and_run(dists, tmp_path):
    sdist, _ = dists
    with tarfile.open(sdist) as archive:
        archive.extractall(tmp_path, filter="data")
    (unpacked,) = tmp_path.glob("velo_tracker-*")
    env = {**os.environ, "PYTHONPATH": str(unpacked)}
    collected = run(sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                    cwd=unpacked, env=env)
    assert "error" not in collected.stdout.lower().split("\n")[-2]
    result = run(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                 "tests/test_bundle_config.py", "tests/test_bundle_k8s.py", cwd=unpacked, env=env)
    assert " passed" in result.stdout and "failed" not in result.stdout
