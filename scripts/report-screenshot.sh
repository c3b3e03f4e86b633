#!/usr/bin/env bash
# Renders an HTML report to a PNG with headless Chromium, to look at a report
# (or publish a picture of it) without a desktop. Usage: report-screenshot.sh HTML PNG
# Chromium is kept offline: no network services, a throwaway profile.
set -euo pipefail

if [[ $# -ne 2 ]]; then
    echo "usage: $0 REPORT.html OUT.png" >&2
    exit 2
fi
html=$(realpath "$1")
png=$(realpath -m "$2")
[[ -f "$html" ]] || { echo "no such file: $1" >&2; exit 2; }
chromium=${CHROMIUM:-/usr/bin/chromium}
[[ -x "$chromium" ]] || { echo "chromium not found at $chromium (set CHROMIUM)" >&2; exit 1; }
width=${WIDTH:-1400}
height=${HEIGHT:-2000}

profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT

"$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile" --window-size="$width,$height" \
    --screenshot="$png" "file://$html" >/dev/null 2>&1

[[ -s "$png" ]] || { echo "chromium wrote no screenshot to $png" >&2; exit 1; }
echo "$png"
