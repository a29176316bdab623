#!/usr/bin/env bash
# Quick start, step 1: install into ./.venv and run the main job (import a real
# conversation into the embedded SQLite default, search it, print the context).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/engram demo "$@"
