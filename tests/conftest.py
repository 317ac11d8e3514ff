"""Shared test configuration.

Layout (each chapter issue extends it):

* ``tests/unit/``       pytest for ``course_utils``: one ``test_<module>.py`` per module,
                        in a folder per subpackage (``tests/unit/core/test_checks.py``
                        tests ``course_utils.core.checks``), plus
                        ``test_architecture.py`` (import layering, module size, ``__all__``).
                        Tests that compare a measured time with a bound or a model are
                        marked ``timing``; they run by default (``-m "not timing"``
                        leaves them out on an overloaded machine).
* ``tests/notebooks/``  conventions every notebook must follow (Colab cell, device
                        selection, listed in ``_toc.yml``, no stored outputs). The
                        notebooks themselves run under nbval: ``make test-notebooks``.
* ``tests/book/``       checks on the built HTML in ``_build/html`` (``make test-book``
                        builds it first, warnings as errors).
* ``tests/install/``    the wheel-in-a-fresh-venv check (``make test-install``).
"""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parents[1]

# The CUDA simulator is slow; keep property-based tests small and deadline-free.
settings.register_profile(
    "course",
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "course"))

# Under test a missed timing check fails (course_utils.core.measure.check_timing); a
# reader's notebook prints a note instead. `make test` sets the same for the notebooks.
os.environ.setdefault("COURSE_TIMING_CHECKS", "strict")


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "timing: compares a measured time on this machine with a bound or a model (runs by "
        "default; deselect with -m 'not timing' on an overloaded machine)",
    )
