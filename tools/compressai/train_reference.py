#!/usr/bin/env python3
"""CompressAI's own training loop (compressai==1.2.8), set up like `neco train`, so the two
trainers' loss curves can be compared step by step (docs/training.md, "Parity with CompressAI").

    .venv/bin/python tools/compressai/train_reference.py --arch mbt2018-mean --lmbda 0.013 \
        --steps 1000 --batch 8 --patch 128 --threads 1 ../shared/datasets/train > cai.jsonl

What matches `neco train --lambda 0.013 --batch 8 --patch 128 --lr 1e-4 --warmup 0
--decay-start 1.0`: the architecture (``compressai.zoo.image_models[arch](quality=1)``, N=128
M=192 for mbt2018-mean, PyTorch's default initialisation), the loss ``λ·255²·MSE + bpp`` with
the bpp from the likelihoods, Adam (lr 1e-4) for the network and a second Adam (lr 1e-3) for the
quantiles on ``aux_loss()``, gradient-norm clipping at 1, random crops with horizontal flips from
every PNG/JPEG under the folders. What does not: the random streams (crops, noise) and the
decoder's input (CompressAI's forward adds noise; neco defaults to straight-through rounding,
`--noise` switches to CompressAI's). Prints one JSON line per --log-every steps with the means of
loss, bpp and PSNR over that window.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402,F401  (silences warnings)
from _common import ARCHS  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from compressai.zoo import image_models  # noqa: E402
from PIL import Image  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", choices=ARCHS, default="mbt2018-mean")
    p.add_argument("--lmbda", type=float, default=0.013)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--patch", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--aux-lr", type=float, default=1e-3)
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("folders", nargs="+")
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = random.Random(a.seed)
    files = sorted(
        os.path.join(d, f)
        for root in a.folders
        for d, _, fs in os.walk(root)
        for f in fs
        if f.lower().endswith((".png", ".jpg", ".jpeg"))
    )
    images = [np.asarray(Image.open(f).convert("RGB")) for f in files]
    images = [im for im in images if im.shape[0] >= a.patch and im.shape[1] >= a.patch]
    if not images:
        sys.exit(f"no image of at least {a.patch}x{a.patch} under {a.folders}")

    def crop() -> torch.Tensor:
        im = images[rng.randrange(len(images))]
        y = rng.randrange(im.shape[0] - a.patch + 1)
        x = rng.randrange(im.shape[1] - a.patch + 1)
        c = im[y : y + a.patch, x : x + a.patch]
        if rng.random() < 0.5:
            c = c[:, ::-1]
        return torch.from_numpy(np.ascontiguousarray(c)).permute(2, 0, 1).float() / 255

    net = image_models[a.arch](quality=1).train()
    params = [p for n, p in net.named_parameters() if not n.endswith(".quantiles")]
    aux_params = [p for n, p in net.named_parameters() if n.endswith(".quantiles")]
    opt = torch.optim.Adam(params, lr=a.lr)
    aux_opt = torch.optim.Adam(aux_params, lr=a.aux_lr)
    sums, count, start = [0.0, 0.0, 0.0], 0, time.time()
    for step in range(1, a.steps + 1):
        x = torch.stack([crop() for _ in range(a.batch)])
        out = net(x)
        n, _, h, w = x.shape
        bpp = sum(torch.log(l).sum() for l in out["likelihoods"].values()) / (-math.log(2) * n * h * w)
        mse = torch.nn.functional.mse_loss(out["x_hat"], x)
        loss = a.lmbda * 255**2 * mse + bpp
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, a.clip)
        opt.step()
        aux_opt.zero_grad()
        net.aux_loss().backward()
        aux_opt.step()
        sums = [sums[0] + loss.item(), sums[1] + bpp.item(), sums[2] + mse.item()]
        count += 1
        if step % a.log_every == 0:
            line = {
                "step": step,
                "loss": sums[0] / count,
                "bpp": sums[1] / count,
                "psnr": -10 * math.log10(sums[2] / count),
                "seconds": round(time.time() - start, 1),
            }
            print(json.dumps(line), flush=True)
            sums, count = [0.0, 0.0, 0.0], 0


if __name__ == "__main__":
    main()
