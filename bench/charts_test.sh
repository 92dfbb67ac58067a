#!/usr/bin/env bash
# The test bench.charts: bench/charts.py draws every chart of the committed
# sample run, and each one is a non-empty SVG document.
#
#   bench/charts_test.sh PYTHON GNUPLOT SAMPLE_JSON OUT_DIR
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
py=$1 gnuplot=$2 sample=$3 out=$4
rm -rf "$out"
GNUPLOT=$gnuplot "$py" "$here/charts.py" "$sample" "$out"
status=0
for chart in start queue pipe locks events pool pool_apply; do
    f=$out/$chart.svg
    if [[ ! -s $f ]]; then
        echo "bench.charts: $f was not written" >&2
        status=1
        continue
    fi
    # Well-formed: it parses as XML and its root element is <svg>.
    if ! "$py" -c 'import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
sys.exit(0 if root.tag.endswith("svg") else 1)' "$f"; then
        echo "bench.charts: $f is not a well-formed SVG document" >&2
        status=1
    fi
done
exit $status
