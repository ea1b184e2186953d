#!/usr/bin/env bash
# Cross-device determinism on a lent GPU machine (docs/determinism.md): encodes Kodak images with
# the built-in learned model on CUDA and on the CPU, then decodes every stream on both devices.
# The claim under test is that a stream decodes to the same pixels wherever it is decoded; the
# CUDA and CPU encodes themselves may differ (the analysis transform is float), which is reported
# for information only. The CUDA-encoded streams and their pixel hashes come back in $OUT so they
# can also be decoded on another machine:
#   tar -xf cuda_streams.tar && neco decode cuda/*.neco -o here && (cd here && sha256sum *.png)
#   must print pixels_cuda_streams.sha256.
#   prepared here: .gpu/neco (stripped target/release/neco), .gpu/kodak/*.png
#   (NECO and IMAGES, a folder of PNGs, override those two; QUALITY defaults to 60; MODEL, a
#   built-in name or a weights file, defaults to hyperprior, e.g. MODEL=/tmp/elic/weights.safetensors
#   after a short `neco train --model elic ... --out /tmp/elic` to check ELIC's context model)
set -uo pipefail
shopt -s nullglob
TORCH_LIB=$(ls -d /opt/torch/.venv/lib/python3*/site-packages/torch/lib 2>/dev/null | head -1 || true)
export LD_LIBRARY_PATH="${TORCH_LIB}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
Q=${QUALITY:-60}
N=${NECO:-./.gpu/neco}
IMG=${IMAGES:-.gpu/kodak}
MODEL=${MODEL:-hyperprior}
W=/tmp/xdev
rm -rf $W
mkdir -p $W
failed=0
for enc in cuda cpu; do
  mkdir -p $W/$enc
  $N encode $IMG/*.png -o $W/$enc --model "$MODEL" --device $enc --quality $Q --quiet \
    || { echo "encode on $enc failed"; failed=1; }
  for dec in cuda cpu; do
    $N decode $W/$enc/*.neco -o $W/${enc}_on_$dec --model "$MODEL" --device $dec --quiet
    rc=$?
    echo "decode $enc-encoded streams on $dec: exit $rc, $(ls $W/${enc}_on_$dec 2>/dev/null | wc -l) files"
    [ $rc -eq 0 ] || failed=1
    # One line per decoded PNG; a loop, because sha256sum with no files would hash standard input.
    (cd $W/${enc}_on_$dec 2>/dev/null && for f in *.png; do sha256sum "$f"; done) > $W/pixels_${enc}_on_$dec.sha256
  done
done
same=0; total=0
for f in $W/cuda/*.neco; do
  total=$((total+1))
  cmp -s "$f" "$W/cpu/$(basename "$f")" && same=$((same+1))
done
echo "CUDA and CPU encodes byte-identical (informational): $same / $total"
for enc in cuda cpu; do
  a=$W/pixels_${enc}_on_cuda.sha256; b=$W/pixels_${enc}_on_cpu.sha256
  n=$(wc -l < "$b")
  if [ "$n" -eq 0 ] || [ "$(wc -l < "$a")" -ne "$n" ]; then
    echo "$enc-encoded streams: nothing to compare"; failed=1
  elif diff -q "$a" "$b" >/dev/null; then
    echo "$enc-encoded streams: same pixels on CUDA and CPU for all $n"
  else
    echo "$enc-encoded streams: pixels differ between CUDA and CPU for $(diff "$a" "$b" | grep -c '^<') of $n"
    failed=1
  fi
done
if [ -n "${OUT:-}" ]; then
  tar -C $W -cf $OUT/cuda_streams.tar cuda
  cp $W/pixels_cuda_on_cpu.sha256 $OUT/pixels_cuda_streams.sha256
fi
echo "cross-device check: $([ $failed -eq 0 ] && echo PASS || echo FAIL)"
exit $failed
