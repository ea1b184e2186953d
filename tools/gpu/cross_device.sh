#!/usr/bin/env bash
# Cross-device determinism on a lent GPU machine (docs/determinism.md): encodes the 24 Kodak
# images with the built-in learned model on CUDA and on the CPU, decodes each set on the other
# device, and reports identical streams and clean decodes. The CUDA-encoded streams come back in
# $OUT so they can also be decoded on another machine.
#   prepared here: .gpu/neco (stripped target/release/neco), .gpu/kodak/*.png
set -uo pipefail
TORCH_LIB=$(ls -d /opt/torch/.venv/lib/python3*/site-packages/torch/lib 2>/dev/null | head -1 || true)
export LD_LIBRARY_PATH="${TORCH_LIB}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
Q=${QUALITY:-60}
W=/tmp/xdev; rm -rf $W; mkdir -p $W/cuda $W/cpu $W/cuda_on_cpu $W/cpu_on_cuda
N=./.gpu/neco
$N encode .gpu/kodak/*.png -o $W/cuda --model hyperprior --device cuda --quality $Q --quiet || echo "CUDA encode failed"
$N encode .gpu/kodak/*.png -o $W/cpu --model hyperprior --device cpu --quality $Q --quiet || echo "CPU encode failed"
$N decode $W/cuda/*.neco -o $W/cuda_on_cpu --device cpu --quiet; echo "decode CUDA streams on CPU: exit $?"
$N decode $W/cpu/*.neco -o $W/cpu_on_cuda --device cuda --quiet; echo "decode CPU streams on CUDA: exit $?"
same=0; total=0
for f in $W/cuda/*.neco; do total=$((total+1)); cmp -s "$f" "$W/cpu/$(basename "$f")" && same=$((same+1)); done
echo "identical streams CUDA vs CPU encode: $same / $total"
echo "decoded files: $(ls $W/cuda_on_cpu | wc -l) CUDA->CPU, $(ls $W/cpu_on_cuda | wc -l) CPU->CUDA"
(cd $W && sha256sum cuda_on_cpu/*.png | sed 's|cuda_on_cpu/||' > pixels_cuda_on_cpu.sha256; sha256sum cpu_on_cuda/*.png | sed 's|cpu_on_cuda/||' > pixels_cpu_on_cuda.sha256)
echo "decoded PNGs identical across the two directions: $(diff $W/pixels_cuda_on_cpu.sha256 $W/pixels_cpu_on_cuda.sha256 >/dev/null && echo all || echo "$(diff $W/pixels_cuda_on_cpu.sha256 $W/pixels_cpu_on_cuda.sha256 | grep -c '^<') differ")"
if [ -n "${OUT:-}" ]; then
  tar -C $W -cf $OUT/cuda_streams.tar cuda
  cp $W/pixels_cuda_on_cpu.sha256 $W/pixels_cpu_on_cuda.sha256 $OUT/
fi
