#!/usr/bin/env bash
# Install course_utils the way a Colab user gets it: from a built wheel, into a
# fresh virtual environment outside the repository, then run the setup notebook
# there with nbval. The repository is not on sys.path.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
PYTHON="${PYTHON:-python3}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

echo "== building the wheel"
"$ROOT/.venv/bin/python" -m pip wheel --quiet --no-deps --no-build-isolation \
  --disable-pip-version-check -w "$WORK/dist" "$ROOT"
WHEEL="$(ls "$WORK"/dist/course_utils-*.whl)"
echo "   $(basename "$WHEEL")"

echo "== fresh virtual environment in $WORK/venv"
"$PYTHON" -m venv "$WORK/venv"
VPY="$WORK/venv/bin/python"
# torch first, the pin from pyproject.toml, from the index `make setup` uses
# (tools/torch_index.py: the CPU index on Linux without an NVIDIA GPU; TORCH_INDEX)
TORCH_ARGS="$("$PYTHON" "$ROOT/tools/torch_index.py" --install-args)"
# shellcheck disable=SC2086  # several arguments, none with spaces
"$VPY" -m pip install --quiet --disable-pip-version-check $TORCH_ARGS
"$VPY" -m pip install --quiet --disable-pip-version-check "${WHEEL}[test]"

mkdir "$WORK/run"
cp "$ROOT/notebooks/setup.ipynb" "$WORK/run/"
cd "$WORK/run"

echo "== course_utils is imported from the wheel, not the repository"
"$VPY" - "$ROOT" <<'PY'
import sys, pathlib
import course_utils
root = pathlib.Path(sys.argv[1]).resolve()
where = pathlib.Path(course_utils.__file__).resolve()
print("   course_utils", course_utils.__version__, "from", where)
assert root not in where.parents, f"course_utils imported from the repository: {where}"
assert "site-packages" in where.parts, where
PY

echo "== nbval on the setup notebook"
"$VPY" -m pytest -p no:cacheprovider --nbval-lax --nbval-current-env setup.ipynb
