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

# Reviewer UI end-to-end test: Debian's chromium and its driver (and CJK fonts so Chinese
# renders in screenshots). Only as root with apt-get; otherwise tests/test_browser.py skips
# and says why. Skipped when already installed.
if ! { [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; }; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver fonts-noto-cjk >/dev/null \
      || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver fonts-noto-cjk >/dev/null; } \
      || echo "setup: could not install chromium/chromium-driver: the browser test will be skipped" >&2
  else
    echo "setup: not root (or no apt-get): chromium not installed, the browser test will be skipped" >&2
  fi
fi
