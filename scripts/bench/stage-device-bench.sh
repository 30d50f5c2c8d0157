#!/usr/bin/env bash
# Stages the whole-image benchmark for the GPU machine into DEST (a folder that .git/info/exclude
# ignores in the checkout the device call sends, carried by the call): the bench bundle, the layouts'
# configs and tokenizer (their ONNX graphs stay: images don't use ORT), both PyTorch scripts, and
# diffusers' source (src/diffusers of the bare git dir DIFFUSERS_GIT, 1.7 MB as .tar.xz). On the
# machine, from DEST: link ../training and ../public in, unpack diffusers onto PYTHONPATH, then
#   bash ../.device/enter.sh node bench.mjs --only sd15-image,turbo-image
#   python3 scripts/bench/torch_pipeline_bench.py; python3 scripts/bench/torch_bench.py
# Run from the project root: bash scripts/bench/stage-device-bench.sh /work/main/.device-bench
set -euo pipefail
dest=${1:?usage: stage-device-bench.sh DEST}
git_dir=${DIFFUSERS_GIT:-/work/.mirror/huggingface+diffusers/repo}
node scripts/build-device-bundle.mjs
mkdir -p "$dest/scripts/bench"
cp .device-bundle/bench.mjs "$dest/"
rm -rf "$dest/scripts/bench/layouts"
(cd scripts/bench && find layouts -name '*.json' ! -path '*/onnx/*' | tar -cf - -T -) | tar -xf - -C "$dest/scripts/bench"
cp scripts/bench/torch_bench.py scripts/bench/torch_pipeline_bench.py "$dest/scripts/bench/"
if [ ! -f "$dest/diffusers.txz" ]; then
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  git --git-dir="$git_dir" archive HEAD src/diffusers | tar -x -C "$tmp"
  tar -cJf "$dest/diffusers.txz" -C "$tmp/src" --exclude=__pycache__ diffusers
  git --git-dir="$git_dir" log -1 --format='diffusers %H (%cs)' > "$dest/diffusers.txt"
fi
du -sb "$dest"
