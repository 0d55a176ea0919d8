#!/usr/bin/env bash
# The book as a Colab reader runs it: a Python 3.13 environment holding Colab's own versions
# (compat/colab-gpu.txt, or another constraints file such as compat/floors.txt), the library
# installed exactly as the chapters' first cell installs it, then the tests that touch the
# diffusion and face stack and chapters 04, 05 and 08 executed on the toy profile.
#
#     tools/colab_check.sh [CONSTRAINTS] [VENV]
#
# Writes compat/results/<constraints name>.json (versions, passed / failed, commit, date).
set -uo pipefail
cd "$(dirname "$0")/.."
CONSTRAINTS=${1:-compat/colab-gpu.txt}
VENV=${2:-.venv-$(basename "$CONSTRAINTS" .txt)}
NAME=$(basename "$CONSTRAINTS" .txt)
RESULT=compat/results/$NAME.json
# The chapters' install cell (notebooks/*.ipynb, first code cell), with this checkout for GitHub.
EXTRAS=diffusion,faces
# Packages the library needs that Colab's image already holds (it lacks onnxruntime, onnx,
# insightface, onnx2torch, prdc and pytorch-metric-learning, which the install cell adds).
PREINSTALLED=(scipy scikit-learn scikit-image matplotlib opencv-python pillow tqdm safetensors)
# What Colab has beside the library and the tests need: a kernel, pytest, papermill, the
# rendered-page check's HTML parser that the notebook tests import, and ipywidgets (chapter 05's
# prompt explorer, and tqdm's notebook bars; Colab's own 7.7 under its constraints).
TEST_TOOLS=(pytest papermill ipykernel pyyaml nbformat beautifulsoup4 ipywidgets)

# Colab runs Python 3.12-3.13; the floors check uses the oldest Python pyproject.toml admits.
WANTED=${COMPAT_PYTHON:-3.13}

find_python() {
    if command -v "python$WANTED" >/dev/null 2>&1 && "python$WANTED" -c pass 2>/dev/null; then
        echo "python$WANTED"
        return
    fi
    # pyenv: the newest installed patch release of that minor version
    local version
    version=$(pyenv versions --bare 2>/dev/null | grep -E "^${WANTED//./\\.}\.[0-9]+$" | sort -V | tail -1)
    if [ -n "$version" ]; then
        echo "env PYENV_VERSION=$version python$WANTED"
    fi
}

PYTHON=$(find_python)
if [ -z "$PYTHON" ]; then
    echo "colab-check: no Python $WANTED found (neither python$WANTED on PATH nor in pyenv)." >&2
    echo "Install one (for example pyenv install $WANTED) and run it again." >&2
    exit 2
fi
if [ ! -f "$CONSTRAINTS" ]; then
    echo "colab-check: $CONSTRAINTS does not exist; name a constraints file under compat/." >&2
    exit 2
fi

set -e
started=$(date +%s)
# the commit whose files the install cell installs (the record names it, not a later one)
COMMIT=$($PYTHON -c "import sys; sys.path.insert(0, 'tools'); import compat_versions as c; print(c.source_commit())")
rm -rf "$VENV"
$PYTHON -m venv "$VENV"
PY=$VENV/bin/python
$PY -m pip install --upgrade pip >/dev/null
echo "== the runtime's own packages ($CONSTRAINTS)"
$PY -m pip install -r "$CONSTRAINTS"
# Colab's image also ships these, at versions that work with its numpy: install them under the
# pins, as the image has them, so that the install cell below meets them already there.
$PY -m pip install -c "$CONSTRAINTS" "${PREINSTALLED[@]}"
echo "== the chapters' install cell: idbooth-book[$EXTRAS] (pip's own warnings shown)"
$PY -m pip install "idbooth-book[$EXTRAS] @ file://$PWD"
$PY -m pip install -c "$CONSTRAINTS" "${TEST_TOOLS[@]}"
$PY -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (colab check)" >/dev/null
installed=$(( $(date +%s) - started ))
set +e

# The install cell must keep every version the runtime ships: a moved pin means the cell
# reinstalled something on Colab (a new torch is gigabytes and breaks CUDA).
$PY tools/compat_versions.py check "$CONSTRAINTS" || moved=1
# `bin/pytest`, not `python -m pytest`: the latter puts this checkout on sys.path, and the tests
# would import its sources instead of the library the install cell installed (as on Colab).
HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 "$VENV/bin/pytest" tests -p no:cacheprovider -q \
    -m "not book" -k "not notebook or 04_finetuning or 05_generation or 08_your_photos" \
    2>&1 | tee "$VENV/pytest.log"
status=${PIPESTATUS[0]}
$PY tools/compat_versions.py record "$CONSTRAINTS" "$VENV/pytest.log" "$RESULT" \
    --install-seconds "$installed" --seconds "$(( $(date +%s) - started ))" --commit "$COMMIT"
if [ "${moved:-0}" = 1 ]; then
    echo "colab-check: the install cell moved a pinned version (above)" >&2
    exit 1
fi
exit "$status"
