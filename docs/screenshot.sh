#!/usr/bin/env bash
# Takes docs/screenshot.png: serves a model on a free port, sends one example pair through the page's form
# (the no-JavaScript path, so the answer page is rendered by the server) and lets headless Chromium
# (Debian's `chromium` package) photograph the answer.
#
#     docs/screenshot.sh runs/recipe/sbert ["premise" "hypothesis"]
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:?usage: docs/screenshot.sh MODEL_DIR [PREMISE HYPOTHESIS]}
premise=${2:-A man is playing a guitar on stage.}
hypothesis=${3:-The man is performing music.}
port=${PORT:-8765}
work=$(mktemp -d)
.venv/bin/python serve.py --model "$model" --port "$port" --quiet &
server=$!
trap 'kill $server; rm -rf "$work"' EXIT
until curl -sf "http://127.0.0.1:$port/health" > /dev/null; do sleep 0.5; done
cat > "$work/post.html" <<HTML
<form method="post" action="http://127.0.0.1:$port/predict">
  <input name="premise" value="$premise"><input name="hypothesis" value="$hypothesis">
</form>
<script>document.forms[0].submit()</script>
HTML
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --user-data-dir="$work/profile" --hide-scrollbars \
    --window-size=900,1100 --virtual-time-budget=10000 --screenshot=docs/screenshot.png "file://$work/post.html"
