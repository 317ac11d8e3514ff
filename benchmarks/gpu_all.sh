#!/usr/bin/env bash
# Every GPU measurement of the course, in under 8 minutes on one GPU machine; writes
# course_utils/data/*_gpu.json (see benchmarks/README.md). Arguments are passed on to
# benchmarks/gpu_all.py: --tiny (every code path, tiny sizes, any machine), --only SECTION,
# --out-dir DIR. Python: $PYTHON, else the repository's .venv, else python3.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${PYTHON:-}" ]; then
    py="$PYTHON"
elif [ -x .venv/bin/python ]; then
    py=.venv/bin/python
else
    py=python3
fi
exec "$py" benchmarks/gpu_all.py "$@"
