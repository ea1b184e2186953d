#!/usr/bin/env python3
"""Time CompressAI (1.2.8) compress/decompress on images, for `neco bench --compare-compressai`.

    .venv/bin/python tools/compressai/bench_compressai.py --arch mbt2018-mean --quality 3 \
        --threads 2 --repeat 3 IMAGE.png [IMAGE.png ...]

Model: ``compressai.zoo.image_models[arch](quality=Q, pretrained=False)`` (random weights: the zoo
cannot be downloaded here), ``eval()``, ``update(force=True)``, ``torch.set_num_threads(T)``, as
in ../shared/reference/cpu_speed.md. Each image (RGB, /255) is padded to a multiple of --pad (64)
at the bottom and right (edge replication), warmed up once, then ``compress(x)`` and
``decompress(strings, shape)`` are each timed --repeat times under ``torch.no_grad()``.

Prints one JSON object on stdout: per-image sample lists (seconds), the medians over all samples,
stream bytes (CompressAI's strings, no container), the process's peak RSS (``ru_maxrss``,
process-wide: includes importing torch and building the model) and the versions.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402,F401  (silences warnings)
from _common import ARCHS  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def load_image(path: str) -> torch.Tensor:
    import numpy as np
    from PIL import Image

    img = Image.open(path).convert("RGB")
    a = np.asarray(img, dtype=np.uint8).copy()
    return torch.from_numpy(a).permute(2, 0, 1).unsqueeze(0).float() / 255.0


def pad(x: torch.Tensor, multiple: int) -> torch.Tensor:
    h, w = x.shape[2], x.shape[3]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return x
    return F.pad(x, (0, pw, 0, ph), mode="replicate")


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("images", nargs="+")
    p.add_argument("--arch", required=True, choices=ARCHS)
    p.add_argument("--quality", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--pad", type=int, default=64)
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    import compressai
    from compressai.zoo import image_models

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = args.device
    t0 = time.perf_counter()
    model = image_models[args.arch](quality=args.quality, pretrained=False).eval().to(device)
    model.update(force=True)
    build_s = time.perf_counter() - t0

    results = []
    with torch.no_grad():
        for path in args.images:
            x = load_image(path).to(device)
            h, w = x.shape[2], x.shape[3]
            xp = pad(x, args.pad)
            # Warm-up.
            out = model.compress(xp)
            model.decompress(out["strings"], out["shape"])
            sync(device)
            enc, dec = [], []
            nbytes = 0
            for _ in range(args.repeat):
                sync(device)
                t = time.perf_counter()
                out = model.compress(xp)
                sync(device)
                enc.append(time.perf_counter() - t)
                t = time.perf_counter()
                x_hat = model.decompress(out["strings"], out["shape"])["x_hat"]
                sync(device)
                dec.append(time.perf_counter() - t)
                del x_hat
                nbytes = sum(len(s[0]) for s in out["strings"])
            results.append(
                {"name": os.path.basename(path), "width": w, "height": h, "encode_s": enc, "decode_s": dec, "bytes": nbytes}
            )

    all_enc = [t for r in results for t in r["encode_s"]]
    all_dec = [t for r in results for t in r["decode_s"]]
    pixels = sum(r["width"] * r["height"] for r in results)
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    json.dump(
        {
            "arch": args.arch,
            "quality": args.quality,
            "N": int(getattr(model, "N", 0) or 0),
            "M": int(getattr(model, "M", 0) or 0),
            "threads": torch.get_num_threads(),
            "device": device,
            "pad": args.pad,
            "repeat": args.repeat,
            "build_s": build_s,
            "images": results,
            "encode_s_median": statistics.median(all_enc),
            "decode_s_median": statistics.median(all_dec),
            "bpp": 8.0 * sum(r["bytes"] for r in results) / pixels,
            "peak_rss_mb": rss_kb / 1024.0,
            "torch": torch.__version__,
            "compressai": compressai.__version__,
        },
        sys.stdout,
    )
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
