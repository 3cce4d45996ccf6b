"""The wheel installs and runs on its own (docs/ARCHITECTURE.md, "Layout").

Builds the wheel from a copy of the source tree, installs it with ``--no-deps``
into a fresh venv that borrows this interpreter's dependencies, and runs the
venv's ``campaign`` from a directory outside the tree with PYTHONPATH unset:
a module, grammar file or library module missing from the package mapping or
the package-data fails here, not on a user's machine.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import sysconfig
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "execute_token_context.campaign"
PACKAGE_DIRS = ("interpreter", "stdlib", "grammar")


def _run(args: list, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                            text=True, stdin=subprocess.DEVNULL, timeout=300)
    assert result.returncode == 0, (
        f"{' '.join(map(str, args))} exited {result.returncode}\n"
        f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}")
    return result


def _copy_tree(dest: Path) -> Path:
    """What a build needs, without build/, *.egg-info or caches of the real tree
    (a stale build/lib could otherwise slip deleted files into the wheel)."""
    junk = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")
    for name in PACKAGE_DIRS:
        shutil.copytree(ROOT / name, dest / name, ignore=junk)
    for path in ROOT.iterdir():
        if path.is_file() and (path.suffix in (".toml", ".cfg", ".in", ".md", ".txt")
                               or path.name.startswith(("LICENSE", "setup.py"))):
            shutil.copy2(path, dest / path.name)
    return dest


def _can_build_offline() -> bool:
    """setuptools >= 70.1 (or the `wheel` package) builds wheels without an
    isolated build environment, so no package index is needed."""
    try:
        major, minor = (int(p) for p in metadata.version("setuptools").split(".")[:2])
    except (metadata.PackageNotFoundError, ValueError):
        return False
    if (major, minor) >= (70, 1):
        return True
    try:
        metadata.version("wheel")
    except metadata.PackageNotFoundError:
        return False
    return True


def _clean_env() -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV")}
    env["PYTHONNOUSERSITE"] = "1"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def test_wheel_installs_and_runs_outside_the_tree(tmp_path: Path) -> None:
    if not EXAMPLE.exists():
        pytest.skip(f"{EXAMPLE.relative_to(ROOT)} is not written yet")

    env = _clean_env()
    src = _copy_tree(tmp_path / "src")
    dist = tmp_path / "dist"
    isolation = ["--no-build-isolation"] if _can_build_offline() else []
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation,
          "--wheel-dir", dist, src], cwd=tmp_path, env=env)
    (wheel,) = dist.glob("campaignlang-0.1.0-*.whl")

    # Every data file of the tree is in the wheel.
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "campaignlang/py.typed" in names
    assert "campaignlang/grammar/__init__.py" in names
    assert "campaignlang/stdlib/__init__.py" in names
    for folder, pattern in (("grammar", "*.lark"), ("stdlib", "*.campaign")):
        for path in (ROOT / folder).glob(pattern):
            assert f"campaignlang/{folder}/{path.name}" in names
    for path in (ROOT / "interpreter" / "schemas").glob("*.*"):
        if path.suffix in (".json", ".md", ".py"):
            assert f"campaignlang/schemas/{path.name}" in names

    # A venv that sees the system site-packages and, when this interpreter is
    # itself a venv (as under .ci/run), this one's too: the dependencies
    # resolve without an index. Path entries from a .pth file come after the
    # venv's own site-packages, and .pth files inside them are not run, so an
    # editable install of the tree here cannot shadow the wheel.
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", venv],
         cwd=tmp_path, env=env)
    python = venv / "bin" / "python"
    venv_site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          cwd=tmp_path, env=env).stdout.strip())
    outer = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib"),
             *site.getsitepackages()}
    (venv_site / "_outer_env.pth").write_text(
        "".join(f"{p}\n" for p in sorted(outer) if Path(p).is_dir()))

    _run([python, "-m", "pip", "install", "--no-deps", "--ignore-installed", "--no-index",
          wheel], cwd=tmp_path, env=env)

    work = tmp_path / "elsewhere"
    work.mkdir()
    example = work / EXAMPLE.name
    shutil.copy2(EXAMPLE, example)

    located = _run([python, "-c", "import campaignlang.render as m; print(m.__file__)"],
                   cwd=work, env=env).stdout.strip()
    assert Path(located).resolve().is_relative_to(venv.resolve()), located

    campaign = venv / "bin" / "campaign"
    version = _run([campaign, "--version"], cwd=work, env=env)
    assert "0.1.0" in version.stdout + version.stderr

    _run([campaign, "check", example.name], cwd=work, env=env)

    # The .campaign lexer is found through the wheel's pygments.lexers entry
    # point; the language server starts from the wheel (and ends at EOF).
    lexer = _run([python, "-c", "from pygments.lexers import get_lexer_for_filename as find; "
                  "print(type(find('x.campaign')).__name__)"], cwd=work, env=env)
    assert lexer.stdout.strip() == "CampaignLexer"
    _run([campaign, "lsp"], cwd=work, env=env)
    # the schemas ship as package data and print from the installed wheel
    assert '"title": "campaign check --format json"' in _run([campaign, "schema", "check"], cwd=work, env=env).stdout
    assert "(SARIF) Version 2.1.0" in _run([campaign, "schema", "sarif"], cwd=work, env=env).stdout
