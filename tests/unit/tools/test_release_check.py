"""tools/release_check.py and `make release-check`: __version__, the Colab cells and the
release tag named in the docs must agree."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location("release_check", ROOT / "tools/release_check.py")
release_check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(release_check)
VERSION = release_check.package_version(ROOT)
TAG = f"v{VERSION}"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of the files the check reads."""
    for name in ("course_utils/__init__.py", "_config.yml", "README.md"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    for folder, pattern in (("notebooks", "*.ipynb"), ("book", "*.md")):
        (tmp_path / folder).mkdir()
        for path in (ROOT / folder).glob(pattern):
            shutil.copy(path, tmp_path / folder / path.name)
    return tmp_path


def make_release_check(root: Path) -> subprocess.CompletedProcess:
    """`make release-check` on ``root``, with this repository's Makefile and .venv."""
    return subprocess.run(["make", "--no-print-directory", "-o", ".venv/.installed", "-C",
                           str(ROOT), "release-check", f"RELEASE_ROOT={root}"],
                          capture_output=True, text=True, timeout=120)


def test_the_repository_agrees_with_itself():
    assert release_check.check(ROOT) == []


def test_make_release_check_passes_on_a_faithful_copy(repo):
    result = make_release_check(repo)
    assert result.returncode == 0, result.stderr
    assert f"{TAG} everywhere" in result.stdout


def _set_colab_tag(path: Path, tag: str) -> None:
    nb = json.loads(path.read_text())
    src = "".join(nb["cells"][0]["source"])
    new = re.sub(r"@v[^\s\"']+\"", f'@{tag}"', src)
    assert new != src
    nb["cells"][0]["source"] = new
    path.write_text(json.dumps(nb, indent=1))


def test_make_release_check_fails_on_a_wrong_colab_tag(repo):
    notebook = sorted((repo / "notebooks").glob("*.ipynb"))[0]
    _set_colab_tag(notebook, "v9.9.9")
    result = make_release_check(repo)
    assert result.returncode != 0
    assert f"notebooks/{notebook.name}: Colab cell installs v9.9.9, __version__ says {TAG}" \
        in result.stderr


def test_make_release_check_fails_when_the_version_moves_alone(repo):
    init = repo / "course_utils/__init__.py"
    init.write_text(init.read_text().replace(f'"{VERSION}"', '"9.9.9"'))
    result = make_release_check(repo)
    assert result.returncode != 0
    lines = result.stderr.splitlines()
    n_notebooks = len(list((repo / "notebooks").glob("*.ipynb")))
    assert sum("Colab cell installs " + TAG in line for line in lines) == n_notebooks
    assert any(line.startswith(f"README.md: names release {TAG}") for line in lines)
    assert "README.md: does not name the release tag v9.9.9" in lines


def test_a_wrong_tag_in_the_docs_is_named(repo):
    page = repo / "book" / "how_to_use.md"
    page.write_text(page.read_text() + "\nInstall the release tag v0.0.7 from GitHub.\n")
    assert release_check.check(repo) == [
        f"book/how_to_use.md: names release v0.0.7, __version__ says {TAG}"]


def test_a_wrong_repository_in_a_colab_cell_is_named(repo):
    notebook = sorted((repo / "notebooks").glob("*.ipynb"))[-1]
    notebook.write_text(notebook.read_text().replace("git+https://github.com/",
                                                     "git+https://example.org/"))
    problems = release_check.check(repo)
    assert len(problems) == 1 and "installs from https://example.org/" in problems[0]


@pytest.mark.parametrize("text, tags", [
    ("tag v0.1.0.", ["v0.1.0"]),
    ('"course-utils @ git+https://x/y@v1.2.3"', ["v1.2.3"]),
    ("v1.2.3rc1 then v2.0.0.post1", ["v1.2.3rc1", "v2.0.0.post1"]),
    ("placeholders vX.Y.Z, v<version>, v1.2 and v1.2.3.4 name no release", []),
])
def test_doc_tags(text, tags):
    assert release_check.doc_tags(text) == tags


def test_the_git_tag_being_released_must_match(repo):
    assert release_check.check(repo, TAG) == []
    assert release_check.check(repo, "v9.9.9") == [f"git tag v9.9.9: __version__ says {TAG}"]
