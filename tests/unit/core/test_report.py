from __future__ import annotations

import pytest

from course_utils.core import report
from course_utils.systems import vector


def test_environment_rows_name_the_kernel_backend():
    rows = dict(report.environment_rows())
    assert rows["Python"].count(".") == 2
    assert rows["numba"] != "not installed"
    assert rows["numba-cuda"] != "not installed"
    assert rows["Numba kernels run on"]
    assert rows["torch sees"] in ("CPU only",) or "GPU" in rows["torch sees"]


def test_kernel_source_shows_the_kernel():
    src = report.kernel_source(vector._vector_add_kernel)
    assert "def _vector_add_kernel" in src and "cuda.grid(1)" in src


def test_kernel_source_rejects_non_callables():
    with pytest.raises(TypeError, match="kernel must be"):
        report.kernel_source(42)


def test_glue_returns_the_value_and_checks_the_name():
    from course_utils.core.report import glue

    assert glue("alpha_us", 12.5) == 12.5
    with pytest.raises(ValueError, match="name must be a Python identifier"):
        glue("alpha us", 1.0)


def test_glue_hands_numpy_scalars_over_as_python_numbers():
    import numpy as np

    from course_utils.core.report import glue

    value = glue("ratio", np.float64(0.25))
    assert type(value) is float and value == 0.25
