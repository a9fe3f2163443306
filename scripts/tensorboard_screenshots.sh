#!/usr/bin/env bash
# Screenshots of TensorBoard's pages for a run of the main job, taken with
# headless Chromium (Debian: `apt-get install chromium`), for docs/tensorboard.md.
#
#   bash scripts/main_job.sh                      # writes logs/fashion_mnist/
#   bash scripts/tensorboard_screenshots.sh [LOGDIR] [OUTDIR]
#   TENSORBOARD_PYTHON=/path/to/venv/bin/python bash scripts/tensorboard_screenshots.sh ...
#
# Writes OUTDIR/tensorboard_{scalars,images,histograms}.png (default: docs/).
set -euo pipefail
cd "$(dirname "$0")/.."
logdir="${1:-logs/fashion_mnist}"
outdir="${2:-docs}"
port="${TENSORBOARD_PORT:-6011}"
browser="$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)"
if [ -z "$browser" ]; then
  echo "needs Chromium: apt-get install chromium" >&2
  exit 1
fi
if [ ! -d "$logdir" ]; then
  echo "no runs in $logdir: run bash scripts/main_job.sh first" >&2
  exit 1
fi
# TENSORBOARD_PYTHON: another environment's python to serve with (one
# without TensorFlow, say); by default the repository's .venv.
python="${TENSORBOARD_PYTHON:-$(bash scripts/setup_env.sh)}"
"$python" -m tensorboard.main --logdir "$logdir" --port "$port" --bind_all \
  > /tmp/tensorboard_screenshots.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 60); do
  curl -fs "http://localhost:$port/data/environment" > /dev/null && break
  sleep 1
done
mkdir -p "$outdir"
shoot() {  # name, page fragment
  "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --window-size=1400,1000 --virtual-time-budget=15000 \
    --screenshot="$outdir/tensorboard_$1.png" \
    "http://localhost:$port/#$2" > /dev/null 2>&1
  echo "$outdir/tensorboard_$1.png"
}
shoot scalars "scalars&tagFilter=mixup%7Caccuracy&_smoothingWeight=0"
shoot images "images"
shoot histograms "histograms"
