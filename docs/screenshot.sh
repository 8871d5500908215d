#!/usr/bin/env bash
# Takes docs/screenshot.png and docs/screenshot-search.png: serves a model on a free port with a search index,
# sends one example pair through the page's form (the no-JavaScript path, so the answer page, with its "why",
# is rendered by the server), asks the Search page one query, and lets headless Chromium (Debian's `chromium`
# package) photograph both.
#
#     docs/screenshot.sh runs/recipe/sbert ["premise" "hypothesis" "query"]
#     (INDEX=snli:test and DATA_DIR=data by default, as `make serve`)
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:?usage: docs/screenshot.sh MODEL_DIR [PREMISE HYPOTHESIS QUERY]}
premise=${2:-A man is playing a guitar on stage.}
hypothesis=${3:-The man is performing music.}
query=${4:-A child is playing with a dog on the beach.}
port=${PORT:-8765}
work=$(mktemp -d)
.venv/bin/python serve.py --model "$model" --index "${INDEX:-snli:test}" --data-dir "${DATA_DIR:-data}" \
    --port "$port" --quiet &
server=$!
trap 'kill $server; rm -rf "$work"' EXIT
until curl -sf "http://127.0.0.1:$port/health" > /dev/null; do sleep 0.5; done
cat > "$work/post.html" <<HTML
<form method="post" action="http://127.0.0.1:$port/predict">
  <input name="premise" value="$premise"><input name="hypothesis" value="$hypothesis">
  <input name="explain" value="1">
</form>
<script>document.forms[0].submit()</script>
HTML
photograph() {  # URL, PNG, height
    chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
        --disable-component-update --disable-sync --user-data-dir="$work/profile" --hide-scrollbars \
        --window-size=900,"$3" --virtual-time-budget=10000 --screenshot="$2" "$1"
}
photograph "file://$work/post.html" docs/screenshot.png 1250
search_url="http://127.0.0.1:$port/search?$(.venv/bin/python -c 'import sys, urllib.parse; print(urllib.parse.urlencode({"q": sys.argv[1], "k": 8}))' "$query")"
photograph "$search_url" docs/screenshot-search.png 900
