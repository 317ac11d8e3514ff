"""tools/colab_install.py: the weekly Colab run takes the install lines from the cells."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / f"tools/{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


colab_install = _load("colab_install")
colab_cell = _load("colab_cell")
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("extras", [("colab",), ("colab", "mpi")])
def test_reads_back_what_colab_cell_writes(extras):
    args = colab_install.pip_args(colab_cell.cell_source(ROOT, extras))
    url = colab_cell.repository_url(ROOT)
    tag = "v" + colab_cell.package_version(ROOT)
    assert args == ["install", "-q", f"course-utils[{','.join(extras)}] @ git+{url}@{tag}"]


def test_the_notebooks_have_the_two_lines():
    lines = colab_install.install_lines(NOTEBOOKS)
    reqs = sorted(line[-1].split(" @ ")[0] for line in lines)
    assert reqs == ["course-utils[colab,mpi]", "course-utils[colab]"]


def test_a_notebook_without_the_cell_is_named(tmp_path):
    path = tmp_path / "bare.ipynb"
    path.write_text(json.dumps({"cells": [{"cell_type": "code", "source": "print(1)"}]}))
    with pytest.raises(ValueError, match=r"bare\.ipynb: first cell: .*no subprocess\.run"):
        colab_install.install_lines([path])


def test_runs_each_line_with_the_given_python(tmp_path, capsys):
    # a stand-in interpreter that records its arguments
    log = tmp_path / "log"
    fake = tmp_path / "python"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {log}\n')
    fake.chmod(0o755)
    assert colab_install.main(["--python", str(fake), *map(str, NOTEBOOKS)]) == 0
    ran = log.read_text().splitlines()
    assert len(ran) == 2 and all(r.startswith("-m pip install -q course-utils[colab") for r in ran)
    assert capsys.readouterr().out.count("$ ") == 2
