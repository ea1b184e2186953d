"""Builds what a lent GPU machine needs, inside the device tool's 64 MiB working-tree limit.

Everything a call sends counts toward that limit: the tracked files (the shipped weights alone are
14 MB), the neco binary (≈39 MB stripped, because it embeds those weights) and the training
images (≈51 MB as JPEG). Together they are over, so this script
  - compresses the stripped binary with xz -9e                  -> .gpu/neco.xz (≈16 MB)
  - re-encodes the training set losslessly where it can          -> .gpu/train_all/
      BSDS500 JPEGs: jpegtran -optimize -progressive (same pixels, ≈9 % smaller);
      CID22 PNGs: JPEG quality 90, 4:4:4, optimized (the only lossy step, as in earlier runs);
  - picks a seeded random subset of those that fits what is left -> .gpu/trainsub/
      (seeded from the shipped weights' sha256, so each stage sees other images; --seed N)
  - copies three Kodak images for the cross-device check        -> .gpu/kodak3/
and prints the bytes that will travel and the device command.

Run it here after `cargo build --release`, with the project venv's Python (it has Pillow):
    .venv/bin/python tools/gpu/prepare.py
Kodak is used only by the determinism check, never for training.
"""

import hashlib
import random
import shutil
import subprocess
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
GPU = ROOT / ".gpu"
TRAIN = ROOT.parent / "shared" / "datasets" / "train"
KODAK = ROOT.parent / "shared" / "datasets" / "kodak"
LIMIT = 64 * 1024 * 1024
MARGIN = 700_000  # directory entries and the device tool's own bookkeeping
WEIGHTS = ROOT / "weights" / "hyperprior.safetensors"


def subset_seed() -> int:
    """A seed that changes with each re-shipped weights file (`--seed N` overrides it).

    Each GPU stage continues from the shipped weights and can carry only part of the training set,
    so a fixed seed would show every stage the same images; seeding from the weights' hash makes
    successive stages draw different subsets, and the stage is still reproducible from the
    manifest's sha256. (Stages 3 and 4 used seed 5.)
    """
    if "--seed" in sys.argv:
        return int(sys.argv[sys.argv.index("--seed") + 1])
    return int(hashlib.sha256(WEIGHTS.read_bytes()).hexdigest()[:8], 16)


def ensure_ignored():
    exclude = ROOT / ".git" / "info" / "exclude"
    if "/.gpu/" not in exclude.read_text().split():
        with exclude.open("a") as f:
            f.write("/.gpu/\n")


def compressed_binary() -> Path:
    binary = ROOT / "target" / "release" / "neco"
    out = GPU / "neco.xz"
    if out.exists() and out.stat().st_mtime >= binary.stat().st_mtime:
        return out
    stripped = GPU / "neco.stripped"
    subprocess.run(["strip", "-o", str(stripped), str(binary)], check=True)
    with out.open("wb") as f:
        subprocess.run(["xz", "-9e", "-T0", "-c", str(stripped)], stdout=f, check=True)
    stripped.unlink()
    return out


def recoded_training_set() -> Path:
    out = GPU / "train_all"
    for src in sorted(TRAIN.rglob("*")):
        if not src.is_file():
            continue
        suffix = src.suffix.lower()
        if suffix not in (".jpg", ".jpeg", ".png"):
            continue
        dst = (out / src.relative_to(TRAIN)).with_suffix(".jpg")
        if dst.exists():
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        if suffix == ".png":
            Image.open(src).convert("RGB").save(dst, quality=90, subsampling=0, optimize=True)
        else:
            with dst.open("wb") as f:
                subprocess.run(
                    ["jpegtran", "-optimize", "-progressive", "-copy", "none", str(src)],
                    stdout=f,
                    check=True,
                )
    return out


def tracked_bytes() -> int:
    names = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    return sum((ROOT / n.decode()).stat().st_size for n in names if n and (ROOT / n.decode()).is_file())


def size_of(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main():
    GPU.mkdir(exist_ok=True)
    ensure_ignored()
    binary = compressed_binary()
    full = recoded_training_set()

    kodak3 = GPU / "kodak3"
    kodak3.mkdir(exist_ok=True)
    for name in ("kodim01.png", "kodim07.png", "kodim23.png"):
        shutil.copy2(KODAK / name, kodak3 / name)

    tracked, kodak_bytes = tracked_bytes(), size_of(kodak3)
    fixed = tracked + binary.stat().st_size + kodak_bytes
    budget = LIMIT - fixed - MARGIN
    files = sorted(p for p in full.rglob("*.jpg"))
    seed = subset_seed()
    random.Random(seed).shuffle(files)
    subset = GPU / "trainsub"
    shutil.rmtree(subset, ignore_errors=True)
    used = 0
    kept = 0
    for f in files:
        size = f.stat().st_size
        if used + size > budget:
            continue
        dst = subset / f.relative_to(full)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, dst)
        used += size
        kept += 1

    print(f"tracked files      {tracked:>11,} bytes")
    print(f".gpu/neco.xz       {binary.stat().st_size:>11,} bytes")
    print(f".gpu/kodak3        {kodak_bytes:>11,} bytes")
    print(f".gpu/trainsub      {used:>11,} bytes: {kept} of {len(files)} training images (seed {seed})")
    print(f"total              {fixed + used:>11,} of {LIMIT:,}")
    print()
    print("device call (timeout_s 600):")
    print('  carry [".gpu/neco.xz", ".gpu/trainsub", ".gpu/kodak3"]')
    print("  command: bash tools/gpu/session.sh 7.3")
    print("  or, once the cross-device check has passed for this build (training only, no .gpu/kodak3):")
    print("  command: XDEV=0 bash tools/gpu/session.sh 8.7")
    if kept < len(files) // 2:
        sys.exit("fewer than half the training images fit: shrink something before a GPU run")


if __name__ == "__main__":
    main()
