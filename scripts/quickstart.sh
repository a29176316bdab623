#!/usr/bin/env bash
# Quick start, step 1: install into ./.venv and run the main job (import a real
# conversation into the embedded SQLite default, search it, print the context).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
.venv/bin/engram demo "$@"
echo
echo "engram is installed in ./.venv: run 'source .venv/bin/activate' to put it on your PATH"
echo "(or call .venv/bin/engram), then try the README's CLI commands."
