#!/usr/bin/env bash
# Quick start: install, then score the bundled sample calls (Chinese and English; the
# rubric is chosen by each call's language).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/qa score --transcript samples/transcripts
