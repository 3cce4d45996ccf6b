"""The hooks of ``.pre-commit-hooks.yaml`` run by the real ``pre-commit``
in a temporary git repository (SLOW: marked ``precommit``; the first run
builds pre-commit's own virtualenv and pip-installs this project into it,
which takes a minute; deselect with ``-m "not precommit"``).

The hook repository is a snapshot of this tree (tracked and untracked
files, as the working tree has them now) committed into a temporary git
repository, named by path and commit in the test repository's
``.pre-commit-config.yaml`` — what ``pre-commit try-repo`` does, except that
the environment is built once for every run of the module
(``PRE_COMMIT_HOME`` is the module's temporary folder).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "lead_lifecycle.campaign"

pytestmark = pytest.mark.precommit

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
           "GIT_CONFIG_NOSYSTEM": "1"}


def _run(args: list[str], cwd: Path, env: dict[str, str], timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    home = tmp_path_factory.mktemp("home")
    out = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PRE_COMMIT", "VIRTUAL_ENV"))}
    out.update(GIT_ENV)
    out["HOME"] = str(home)
    out["PRE_COMMIT_HOME"] = str(home / "cache")
    # pre-commit from this interpreter's environment; its hook envs are its own
    out["PATH"] = str(Path(sys.executable).parent) + os.pathsep + out.get("PATH", "")
    return out


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> tuple[Path, str]:
    """This tree as it is now, committed into a repository of its own."""
    dest = tmp_path_factory.mktemp("hooks")
    listed = _run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], ROOT, env)
    if listed.returncode != 0:
        pytest.skip("the project is not a git checkout")
    for name in filter(None, listed.stdout.split("\0")):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    assert (dest / ".pre-commit-hooks.yaml").is_file()
    for args in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "snapshot"]):
        assert _run(args, dest, env).returncode == 0
    sha = _run(["git", "rev-parse", "HEAD"], dest, env).stdout.strip()
    return dest, sha


@pytest.fixture
def project(tmp_path: Path, env: dict[str, str], hook_repo: tuple[Path, str]) -> Path:
    repo_path, sha = hook_repo
    proj = tmp_path / "campaigns"
    proj.mkdir()
    assert _run(["git", "init", "-q"], proj, env).returncode == 0
    (proj / ".pre-commit-config.yaml").write_text(
        "repos:\n"
        f"  - repo: {repo_path}\n"
        f"    rev: {sha}\n"
        "    hooks:\n"
        "      - id: campaign-check\n"
        "      - id: campaign-fmt\n"
        "      - id: campaign-test\n", encoding="utf-8")
    return proj


def _pre_commit(proj: Path, env: dict[str, str], *files: str) -> subprocess.CompletedProcess:
    assert _run(["git", "add", "-A"], proj, env).returncode == 0
    return _run([sys.executable, "-m", "pre_commit", "run", "--color", "never", "--files", *files], proj, env)


def _status(output: str, hook: str) -> str:
    for line in output.splitlines():
        if line.startswith(hook + "."):
            return line.rstrip().rsplit(".", 1)[-1].rsplit(")", 1)[-1]
    raise AssertionError(f"no line for {hook!r} in:\n{output}")


def test_clean_campaigns_pass_every_hook(project: Path, env: dict[str, str]) -> None:
    shutil.copy(EXAMPLE, project / "lifecycle.campaign")
    result = _pre_commit(project, env, "lifecycle.campaign")
    assert result.returncode == 0, result.stdout + result.stderr
    for hook in ("campaign check", "campaign fmt", "campaign test"):
        assert _status(result.stdout, hook) == "Passed", result.stdout
    assert "4 passed, 0 failed" not in result.stdout     # passing hooks are quiet


SCORING = """program "Scoring" {
    tokens { my.Score = +5 }
    form "Contact Us"

    campaign "Score" trigger {
        smart list { trigger fills out form "Contact Us" }
        flow { change score lead."Lead Score" by {{my.Score}} }
    }
}

test "a form fill scores" {
    person "ann@example.com" { "Lead Score" = 0 }
    fire fills out form "Contact Us" for "ann@example.com"
    expect "ann@example.com"."Lead Score" == 5
}
"""


def _program(name: str, text: str = SCORING) -> str:
    """SCORING as a program and form of their own names (the staged files
    are checked together, as one project, where program names are unique
    and a bare form name must be too)."""
    return text.replace('"Scoring"', f'"{name}"').replace('"Contact Us"', f'"{name} Form"')


def test_each_hook_fails_on_what_it_guards(project: Path, env: dict[str, str]) -> None:
    # an error for check, an unformatted layout for fmt, a failing test for test
    (project / "broken.campaign").write_text(_program("A").replace("{{my.Score}}", "{{my.Scor}}"),
                                             encoding="utf-8")
    messy = _program("B").replace('    tokens { my.Score = +5 }', 'tokens {my.Score=+5}')
    (project / "messy.campaign").write_text(messy, encoding="utf-8")
    (project / "failing.campaign").write_text(_program("C").replace("== 5", "== 99"), encoding="utf-8")
    (project / "notes.txt").write_text("not a campaign {", encoding="utf-8")
    result = _pre_commit(project, env, "broken.campaign", "messy.campaign", "failing.campaign", "notes.txt")
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert _status(out, "campaign check") == "Failed"
    assert "error[CL401]: My Token 'my.Scor' is defined nowhere in scope" in out
    assert "--> broken.campaign:" in out
    assert _status(out, "campaign fmt") == "Failed"
    assert "files were modified by this hook" in out
    assert (project / "messy.campaign").read_text(encoding="utf-8") == _program("B")   # formatted back
    assert _status(out, "campaign test") == "Failed"
    assert 'expected "ann@example.com"."Lead Score" == 99, but it is 5' in out
    assert "1 passed, 2 failed" in out               # the broken file counts as a failure
    assert "notes.txt" not in out                    # only .campaign files are handed to the hooks

    # fixed: every hook passes again
    (project / "broken.campaign").write_text(_program("A"), encoding="utf-8")
    (project / "failing.campaign").write_text(_program("C"), encoding="utf-8")
    again = _pre_commit(project, env, "broken.campaign", "messy.campaign", "failing.campaign")
    assert again.returncode == 0, again.stdout + again.stderr
