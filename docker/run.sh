#!/usr/bin/env bash
# Contest entry point: reads a test set, writes result.json.
#   INPUT_DIR      dataset root with image/ and video/        (default /tcdata/test_dataset)
#   OUTPUT         where result.json goes                     (default /result.json)
#   CONFIG         pipeline recipe        (default configs/pipeline/demo.yaml: the committed demo models,
#                  in the image; a fit's pipeline.yaml, or configs/pipeline/reference.yaml with the GPU
#                  reference models trained under runs/, mounted into the container)
#   DETECTOR       detector checkpoint folder                 (default: weights.detector of CONFIG)
#   EMBEDDERS      embedder checkpoint folders, space-separated (default: weights.embedders of CONFIG)
#   WORK_DIR       scratch folder for features and details   (default /tmp/livematch)
#   LIVEMATCH      the command to run                         (default: livematch)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
INPUT_DIR="${INPUT_DIR:-/tcdata/test_dataset}"
OUTPUT="${OUTPUT:-/result.json}"
CONFIG="${CONFIG:-$here/configs/pipeline/demo.yaml}"
WORK_DIR="${WORK_DIR:-/tmp/livematch}"
LIVEMATCH="${LIVEMATCH:-livematch}"
args=(run --data "$INPUT_DIR" --out "$WORK_DIR" --config "$CONFIG")
[ -n "${DETECTOR:-}" ] && args+=(--detector "$DETECTOR")
for e in ${EMBEDDERS:-}; do args+=(--embedder "$e"); done
cd "$here"
echo "config: $CONFIG" >&2
$LIVEMATCH "${args[@]}"
mkdir -p "$(dirname "$OUTPUT")"
cp "$WORK_DIR/result.json" "$OUTPUT.tmp" && mv "$OUTPUT.tmp" "$OUTPUT"
echo "wrote $OUTPUT"
