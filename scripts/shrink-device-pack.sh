#!/usr/bin/env bash
# After ../shared/device/pack.sh: makes .device/ smaller, for the GPU machine's 64 MiB transfer limit
# (the project's files, .device and .device-bundle together; with ONNX Runtime's WebAssembly in the
# bundle they did not fit). Strips the symbol tables from node and dawn.node (12.6 MB and 4 MB of
# their 99 MB and 21.5 MB; what runs is unchanged) and compresses both with xz -9e: .device goes
# from 29.7 to 26.7 MB.
set -euo pipefail
dir=.device
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for name in node dawn.node; do
  xz -dc "$dir/$name.xz" > "$tmp/$name"
  strip "$tmp/$name"
  xz -9e -T0 -c "$tmp/$name" > "$tmp/$name.xz"
  echo "$name.xz: $(stat -c %s "$dir/$name.xz") -> $(stat -c %s "$tmp/$name.xz") bytes"
  mv "$tmp/$name.xz" "$dir/$name.xz"
done
du -sb "$dir"
