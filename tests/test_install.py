"""What a user meets before the first fit: read-only installs, optional parts, declared deps."""

from __future__ import annotations

import ast
import os
import shutil
import stat
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

import boostkit
import streamml

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("boostkit", "streamml")


def _run(code, env=None, prefix=(), options=(), cwd=None):
    return subprocess.run([*prefix, sys.executable, *options, "-c", textwrap.dedent(code)],
                          capture_output=True, text=True, env=env, timeout=600, cwd=cwd)


def _without_write_permission():
    """A command prefix under which permission bits hold, even for root (None if impossible).

    root writes through ``chmod a-w``; dropping CAP_DAC_OVERRIDE (and CAP_DAC_READ_SEARCH)
    from the bounding set makes it obey them, while it can still run this interpreter.
    """
    if os.geteuid() != 0:
        return ()
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    return (setpriv, "--bounding-set=-dac_override,-dac_read_search", "--")


def _read_only_copy(tmp_path):
    site = tmp_path / "site"
    for package in PACKAGES:
        shutil.copytree(ROOT / package, site / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.nbi", "*.nbc"))
    home = tmp_path / "home"
    home.mkdir()
    for path in [site, home, *site.rglob("*")]:
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    return site, home


def test_imports_and_kernels_work_on_a_read_only_install(tmp_path):
    prefix = _without_write_permission()
    if prefix is None:
        pytest.skip("running as root without setpriv: chmod a-w cannot make a folder read-only")
    site, home = _read_only_copy(tmp_path)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("NUMBA_", "XDG_", "PYTHON"))}
    # -S: no .pth files, so an editable install of this checkout cannot shadow the copy; the
    # dependencies come from this interpreter's site-packages, given after the copy
    dependencies = [p for p in sys.path if p.endswith("site-packages")]
    env.update(HOME=str(home), TMPDIR=str(scratch), PYTHONDONTWRITEBYTECODE="1",
               PYTHONPATH=os.pathsep.join([str(site), *dependencies]))
    probe = _run(f"open({str(site / 'probe')!r}, 'w')", env, prefix, cwd=scratch)
    if probe.returncode == 0:
        pytest.skip("this sandbox lets the test write into a chmod a-w folder")
    code = """
        import numpy as np, numba, boostkit, streamml.multilabel
        from boostkit.influence._kernels import ordered_products
        assert boostkit.__file__.startswith({site!r}), boostkit.__file__
        left, right, out = np.arange(6.0).reshape(2, 3), np.ones((3, 1)), np.empty((2, 1))
        ordered_products(left, right, out)
        assert out.ravel().tolist() == [3.0, 12.0], out
        print(numba.config.CACHE_DIR)
    """.format(site=str(site))
    first = _run(code, env, prefix, ["-S"], cwd=scratch)
    assert first.returncode == 0, first.stderr[-3000:]
    cache = Path(first.stdout.strip())
    assert cache.parent == scratch  # the per-user folder of the temporary directory
    cached = sorted(p.name for p in cache.rglob("*.nbi"))
    assert any(name.startswith("_kernels.ordered_products") for name in cached), cached
    second = _run(code, env, prefix, ["-S"], cwd=scratch)  # a second process loads what the first compiled
    assert second.returncode == 0, second.stderr[-3000:]
    assert sorted(p.name for p in cache.rglob("*.nbi")) == cached


def test_the_users_numba_cache_dir_wins(tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "mine"))
    result = _run("import numba, boostkit; print(numba.config.CACHE_DIR)", env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path / "mine")


@pytest.mark.parametrize("module, missing, extra", [
    ("boostkit.rl", "gymnasium", "rl"),
])
def test_optional_parts_say_how_to_install_them(module, missing, extra):
    # None in sys.modules makes the import fail as if the package were not installed
    result = _run(f"import sys; sys.modules[{missing!r}] = None; import {module}")
    assert result.returncode != 0
    assert f'pip install "boostkit[{extra}]"' in result.stderr, result.stderr[-2000:]


def test_version_everywhere():
    metadata = _run("import importlib.metadata as m; print(m.version('boostkit'))")
    assert metadata.stdout.strip() == boostkit.__version__ == streamml.__version__
    for command in ([sys.executable, "-m", "boostkit", "--version"],
                    [str(Path(sys.executable).with_name("boostkit")), "--version"]):
        if not Path(command[0]).exists():
            continue
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"boostkit {boostkit.__version__}"


def _top_level_imports(folder):
    names = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def _requirement_name(requirement):
    name = requirement.split(";")[0]
    for stop in "<>=!~[ ":
        name = name.split(stop)[0]
    return name.strip().lower().replace("_", "-")


# import name -> distribution name, where they differ
_DISTRIBUTIONS = {"sklearn": "scikit-learn", "distributed": "dask"}


def test_declared_dependencies_are_the_imported_ones():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    declared = {_requirement_name(r) for r in project["dependencies"]}
    optional = {_requirement_name(r) for key, requirements in extras.items()
                if key not in ("all", "test", "bench") for r in requirements}
    # the explain (shap) and sb3 extras are the user's side: our code only writes what they read
    imported_optional = {_requirement_name(r) for key in ("catboost", "rl", "dask", "plot",
                                                          "tensorboard")
                         for r in extras[key]}
    imported = set()
    for package in PACKAGES:
        imported |= _top_level_imports(ROOT / package)
    third_party = {_DISTRIBUTIONS.get(name, name).lower() for name in imported
                   if name not in sys.stdlib_module_names and name not in PACKAGES}
    assert declared == third_party - optional, (declared ^ (third_party - optional))
    assert imported_optional <= third_party
    tests = {_requirement_name(r) for r in extras["test"]}
    used_by_tests = {name.lower() for name in _top_level_imports(ROOT / "tests")}
    assert tests - {"pytest-timeout"} <= used_by_tests  # pytest-timeout: the ini's timeout
