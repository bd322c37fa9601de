#!/usr/bin/env bash
# Quick start: install, then score the bundled sample calls (Chinese and English; the
# rubric is chosen by each call's language), store them in a demo database with
# `qa batch`, and open the reviewer UI signed in as a demo reviewer.
# Without a terminal (CI) or with QA_DEMO_NO_UI=1 the UI is not started.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/qa score --transcript samples/transcripts

demo=out/demo
mkdir -p "$demo"
for lang in zh en; do
  prefix=$([ "$lang" = zh ] && echo "c-" || echo "en-")
  rubric=$([ "$lang" = zh ] && echo "zh-bank-hotline" || echo "en-card-services")
  { head -n 1 samples/manifest.csv
    grep "^transcripts/$prefix" samples/manifest.csv | sed "s#^transcripts/#$PWD/samples/transcripts/#"
  } > "$demo/$lang.csv"
  .venv/bin/qa batch --manifest "$demo/$lang.csv" --db "$demo/qa.db" --rubric "$rubric" --workers 1
done

if [ -n "${QA_DEMO_NO_UI:-}" ] || [ ! -t 0 ] || [ ! -t 1 ]; then
  echo "Reviewer UI not started (no terminal or QA_DEMO_NO_UI set). Start it with:"
  echo "  .venv/bin/qa ui --db $demo/qa.db --demo"
  exit 0
fi
exec .venv/bin/qa ui --db "$demo/qa.db" --demo --port "${QA_UI_PORT:-8501}" --open
