#!/usr/bin/env bash
# One-command setup for neco on a fresh Debian 12 (bookworm) machine; safe to re-run (a second run
# takes seconds). It installs the system packages, a project-local Python venv with the PyTorch
# wheel whose libtorch the Rust crates link (via tch), and builds the workspace in release mode.
#
#   ./setup.sh && ./target/release/neco demo
#   ./setup.sh && cargo test --workspace --release
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
ROOT=$PWD
TORCH_VERSION=2.11.0
VENV=.venv

say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

# Only one setup at a time (a concurrent pip install into the same venv would break it).
mkdir -p target
exec 9>target/.setup.lock
if ! flock -n 9; then
  say "another ./setup.sh is running; waiting for it"
  flock 9
fi

# --- 1. Debian packages ---------------------------------------------------------------------
# clang/libclang-dev: bindgen (ffmpeg-sys-next); the libav*-dev packages: FFmpeg 5.1 for
# ffmpeg-next 9; ffmpeg: the CLI used by tests and tools; build-essential: C++ for torch-sys;
# libjpeg-turbo-progs, webp, libavif-bin, libjxl-tools: the cjpeg/cwebp/avifenc/cjxl CLIs that
# `neco anchors` runs (HEVC goes through ffmpeg's libx265).
PKGS=(build-essential clang libclang-dev pkg-config
      libavcodec-dev libavformat-dev libavutil-dev libswscale-dev
      libavfilter-dev libavdevice-dev libswresample-dev ffmpeg
      libjpeg-turbo-progs webp libavif-bin libjxl-tools chromium)
if ! command -v python3 >/dev/null 2>&1; then
  PKGS+=(python3 python3-venv)
elif ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  PKGS+=(python3-venv)
fi
missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  say "installing Debian packages: ${missing[*]}"
  SUDO=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || die "need root (or sudo) to apt-get install ${missing[*]}"
    SUDO=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  aptlog=target/setup-apt.log
  if ! { "${SUDO[@]}" apt-get update -qq &&
         "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$aptlog" 2>&1; then
    tail -n 20 "$aptlog" >&2
    die "apt-get failed (full log: $ROOT/$aptlog)"
  fi
else
  say "Debian packages: ok"
fi

# --- 2. Python venv with torch (libtorch for tch) --------------------------------------------
if [[ ! -x $VENV/bin/python ]]; then
  say "creating $VENV"
  python3 -m venv "$VENV"
fi
torch_ok() {
  "$VENV/bin/python" - 2>/dev/null <<PY
import sys, torch
sys.exit(0 if torch.__version__.split("+")[0] == "$TORCH_VERSION" else 1)
PY
}
# pip runs with --no-cache-dir: torch's wheels (about 4 GB with its CUDA libraries) would
# otherwise be kept a second time in ~/.cache/pip, and a CI run once died of a full disk here.
PIP=("$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-cache-dir)
free_gib() { df -Pk "$1" | awk 'NR == 2 { printf "%d", $4 / 1048576 }'; }
need_disk() {  # need_disk GIB WHAT: fail early, with one clear line, instead of midway in pip
  local free tmp_free
  free=$(free_gib .)
  tmp_free=$(free_gib "${TMPDIR:-/tmp}")
  ((tmp_free < free)) && free=$tmp_free
  ((free >= $1)) || die "$2 needs about $1 GiB of free disk, but only $free GiB is free (df -h . ${TMPDIR:-/tmp})"
}
if torch_ok; then
  say "torch $TORCH_VERSION in $VENV: ok"
else
  need_disk 8 "installing torch $TORCH_VERSION (5 GiB installed, its wheels unpack through ${TMPDIR:-/tmp})"
  say "installing torch==$TORCH_VERSION into $VENV from PyPI (several GB; takes a while)"
  "${PIP[@]}" "torch==$TORCH_VERSION"
  torch_ok || die "torch $TORCH_VERSION still does not import from $VENV"
fi
# CompressAI (reference models for tools/compressai/), safetensors, and pytorch-msssim (the
# MS-SSIM reference neco's implementation is tested against). torch is pinned in the same
# pip call: compressai pulls torchvision, whose newest release would otherwise upgrade torch.
COMPRESSAI_VERSION=1.2.8
compressai_ok() {
  "$VENV/bin/python" - 2>/dev/null <<PY
import sys, importlib.metadata as md, importlib.util as iu
# Installed-metadata check (importing compressai loads torchvision/scipy: ~9 s).
ok = all(iu.find_spec(m) for m in ("compressai", "safetensors", "pytorch_msssim"))
sys.exit(0 if ok and md.version("compressai") == "$COMPRESSAI_VERSION" else 1)
PY
}
if compressai_ok; then
  say "compressai $COMPRESSAI_VERSION + safetensors in $VENV: ok"
else
  say "installing compressai==$COMPRESSAI_VERSION and safetensors into $VENV from PyPI"
  "${PIP[@]}" "compressai==$COMPRESSAI_VERSION" safetensors pytorch-msssim==1.0.0 "torch==$TORCH_VERSION"
  compressai_ok || die "compressai $COMPRESSAI_VERSION still does not import from $VENV"
  torch_ok || die "installing compressai changed torch away from $TORCH_VERSION"
fi

# --- 3. Fixed libtorch path: .libtorch -> .venv/lib/python3.X/site-packages/torch ------------
shopt -s nullglob
torch_dirs=("$VENV"/lib/python3.*/site-packages/torch)
shopt -u nullglob
((${#torch_dirs[@]} == 1)) || die "expected one $VENV/lib/python3.*/site-packages/torch, found ${#torch_dirs[@]}"
if [[ ! -L .libtorch || $(readlink .libtorch) != "${torch_dirs[0]}" ]]; then
  [[ -e .libtorch && ! -L .libtorch ]] && die ".libtorch exists and is not a symlink"
  ln -sfn "${torch_dirs[0]}" .libtorch
  say "linked .libtorch -> ${torch_dirs[0]}"
fi
[[ -f .libtorch/lib/libtorch_cpu.so ]] || die ".libtorch/lib/libtorch_cpu.so missing"

# --- 4. Build ---------------------------------------------------------------------------------
command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust (>= 1.85) with rustup first"
log=target/setup-build.log
[[ -d target/release/deps ]] || need_disk 6 "the first release build of the workspace"
say "cargo build --release --workspace (the first build takes several minutes; log: $log)"
start=$SECONDS
if ! cargo build --release --workspace >"$log" 2>&1; then
  tail -n 40 "$log" >&2
  die "cargo build failed (full log: $ROOT/$log)"
fi
say "build ok ($((SECONDS - start))s)"
if [[ -x target/release/neco ]]; then
  say "ready: ./target/release/neco demo   |   cargo test --workspace --release"
else
  say "ready: cargo test --workspace --release"
fi
