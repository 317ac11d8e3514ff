"""Every number in a notebook's prose is computed (MyST glue) or cited.

The rule and its allow-list live in ``tools/prose_numbers.py`` (run it to list the
offenders with their sentences).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("prose_numbers", ROOT / "tools/prose_numbers.py")
prose = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(prose)

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_number_is_typed_into_the_prose(path):
    offenders = prose.notebook_offenders(path)
    assert not offenders, (
        f"{len(offenders)} numbers in {path.name}'s prose are neither glued nor cited "
        "(glue them with course_utils.core.glue, cite them, or say 'the output above'):\n"
        + "\n".join(f"  cell {i}: {n!r} in: {s}" for i, n, s in offenders)
    )


@pytest.mark.parametrize("text", [
    "This machine has 2 CPU cores.",
    "The fit gives an alpha of roughly 100 µs here.",
    "The two agree to within 3%.",
    "Efficiency is 70-80% on 8 GPUs.",
    "A speedup of 3.5× on four GPUs.",
    "The copy reaches 12.5 GB/s.",
    "Agreement to about $10^{-15}$ and 1e-15 s.",
    "A 4x speedup, and 2.25x with compression.",
    "Conscious recognition takes 80 to 200 ms.",
    "Performance doubles every 13 months.",
])
def test_a_typed_in_quantity_is_caught(text):
    assert prose.typed_numbers(text), text


@pytest.mark.parametrize("text", [
    "This machine has {glue:text}`n_cores` CPU cores.",
    "FDR moves 6.75 GB/s per direction {cite}`mellanox2014fdr`.",
    "PCIe 3.0 x16 and an H100 with 8-bit gradients on ResNet-50 (Table 6, section 2.3).",
    "Tables 3 and 4 give the times; sections 2.1 to 2.4 the background.",
    "> The post: a GPU needs 30 frames/s to keep up.",
    "In 2015 the paper appeared; the posts ran 2014-2015.",
    "The time is $t = 2\\alpha + 4 n \\beta$ with 4 processes and 15 axons.",
    "See `measure(4096, 1e-6 s)` in code.",
    "Link bandwidths are [external] 50 GB/s for NDR.",
])
def test_computed_cited_quoted_and_named_numbers_pass(text):
    assert prose.typed_numbers(text) == []


def test_the_allow_list_is_short_and_explained():
    assert len(prose.ALLOWED) <= 15
    assert all(isinstance(why, str) and len(why) > 10 for why in prose.ALLOWED.values())
