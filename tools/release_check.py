"""Check that the release tag agrees everywhere it is named (``make release-check``).

The Colab cell of every notebook installs ``course-utils @ git+<repository>@v<version>``
(``tools/colab_cell.py``), the publish workflow runs on that tag, and the README names
it. They must agree with ``__version__`` in ``course_utils/__init__.py``:

* the git tag being released, if given (``--tag``), is ``v<__version__>``;
* the tag pinned in each notebook's first (Colab) cell is ``v<__version__>``, and the
  repository in it is ``_config.yml``'s ``repository.url``;
* every release tag named in ``README.md`` and ``book/*.md`` (``v1.2.3``: ``@v1.2.3``,
  ``tag v1.2.3``) is ``v<__version__>``, placeholders such as ``vX.Y.Z`` aside; and
  ``README.md`` names it at least once.

Each disagreement is printed as one line naming the file; the exit status is 1 if there
is any. Standard library and PyYAML only (``.venv`` has both).

Usage::

    python tools/release_check.py [--root DIR] [--tag vX.Y.Z]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
#: the requirement in a Colab cell: "course-utils[extras] @ git+<url>@<ref>"
COLAB_REQ = re.compile(r"course-utils(?:\[[^\]]*\])?\s*@\s*git\+"
                       r"(?P<url>[^\s\"'@]+)@(?P<ref>[^\s\"']+)")
#: a release tag named in prose: v<major>.<minor>.<patch>, optional pre-release suffix
DOC_TAG = re.compile(r"(?<![\w.])v(\d+\.\d+\.\d+(?:(?:a|b|rc)\d+|\.post\d+|\.dev\d+)?)"
                     r"(?![\w-]|\.\w)")
DOCS = ("README.md", "book/*.md")


def package_version(root: Path) -> str:
    """``__version__`` from ``course_utils/__init__.py``."""
    text = (root / "course_utils" / "__init__.py").read_text()
    match = re.search(r'^__version__ = "([^"]+)"', text, flags=re.M)
    if match is None:
        raise RuntimeError(f"no __version__ in {root / 'course_utils/__init__.py'}")
    return match.group(1)


def repository_url(root: Path) -> str:
    """``repository.url`` from ``_config.yml``, without a trailing slash or ``.git``."""
    config = yaml.safe_load((root / "_config.yml").read_text())
    return config["repository"]["url"].rstrip("/").removesuffix(".git")


def colab_problems(root: Path, tag: str, url: str) -> list[str]:
    """Notebooks whose first cell does not install ``course-utils`` from ``url`` at ``tag``."""
    problems = []
    for path in sorted((root / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text()).get("cells", [])
        source = "".join(cells[0].get("source", "")) if cells else ""
        match = COLAB_REQ.search(source)
        name = path.relative_to(root)
        if match is None:
            problems.append(f"{name}: first cell installs no course-utils release")
            continue
        if match["ref"] != tag:
            problems.append(f"{name}: Colab cell installs {match['ref']}, __version__ says {tag}")
        if match["url"].rstrip("/").removesuffix(".git") != url:
            problems.append(f"{name}: Colab cell installs from {match['url']}, "
                            f"_config.yml says {url}")
    return problems


def doc_tags(text: str) -> list[str]:
    """Release tags (``v1.2.3``) named in ``text``, in order."""
    return ["v" + m for m in DOC_TAG.findall(text)]


def doc_problems(root: Path, tag: str) -> list[str]:
    """Docs that name a release tag other than ``tag``; README.md must name ``tag``."""
    problems = []
    for pattern in DOCS:
        for path in sorted(root.glob(pattern)):
            for found in doc_tags(path.read_text()):
                if found != tag:
                    problems.append(f"{path.relative_to(root)}: names release {found}, "
                                    f"__version__ says {tag}")
    readme = root / "README.md"
    if readme.exists() and tag not in doc_tags(readme.read_text()):
        problems.append(f"README.md: does not name the release tag {tag}")
    return problems


def check(root: Path = ROOT, git_tag: str | None = None) -> list[str]:
    """Every disagreement between ``__version__``, the Colab cells, the docs and, if
    given, ``git_tag`` (the tag being released, e.g. ``GITHUB_REF_NAME``)."""
    tag = "v" + package_version(root)
    problems = []
    if git_tag is not None and git_tag != tag:
        problems.append(f"git tag {git_tag}: __version__ says {tag}")
    return problems + colab_problems(root, tag, repository_url(root)) + doc_problems(root, tag)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="repository root")
    parser.add_argument("--tag", help="the git tag being released: must be v<__version__>")
    args = parser.parse_args(argv)
    problems = check(args.root, args.tag)
    for line in problems:
        print(line, file=sys.stderr)
    if problems:
        print("fix: set __version__, run `make colab-cells`, and name the same tag in the "
              "README (README.md, Releasing)", file=sys.stderr)
        return 1
    print(f"release-check: v{package_version(args.root)} everywhere")
    return 0


if __name__ == "__main__":
    sys.exit(main())
