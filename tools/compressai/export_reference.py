#!/usr/bin/env python3
"""Export a randomly initialised CompressAI (1.2.8) model plus reference tensors, for checking the
Rust (tch) re-implementation of bmshj2018-factorized / bmshj2018-hyperprior / mbt2018-mean.

    .venv/bin/python tools/compressai/export_reference.py --arch mbt2018-mean --quality 3 \
        --seed 0 --height 64 --width 96 --out /tmp/caiexport/mbt2018-mean

Outputs in --out DIR:

* ``weights.safetensors`` -- the full ``model.state_dict()`` with CompressAI 1.2.8's exact key
  names; float tensors as float32, integer buffers (``_offset``, ``_quantized_cdf``,
  ``_cdf_length``) as int32. Metadata: arch, quality, N, M, source.
* ``reference.safetensors`` -- float32 tensors of the eval-mode forward pass (see below).
* ``meta.json`` -- sizes, CompressAI's own compress()/decompress() string lengths, estimated bits,
  entropy-bottleneck medians, the Gaussian scale table, and the forward-vs-decompress x_hat gap.

Model: ``torch.manual_seed(seed)``, ``compressai.zoo.image_models[arch](quality=Q,
pretrained=False)``; then, from a generator seeded with ``seed``, every conv / deconv bias gets
``+ 0.02 * N(0,1)``, every GDN's *stored* (reparametrised) beta gets ``+ U(0, 0.1)`` and gamma
``+ U(0, 0.05)`` (positive, so the effective ``beta = max(b, bound)**2 - pedestal`` and ``gamma``
stay valid and non-trivial: off-diagonal gammas become non-zero), and the entropy bottleneck's
``matrices`` get ``+ 0.05 * N(0,1)``, ``biases`` ``+ 0.05 * N(0,1)`` and ``factors`` (zero at
init, which would hide the ``tanh(factor) * tanh(logits)`` term) ``+ 0.1 * N(0,1)``. The
bottleneck's ``quantiles`` are left as initialised ([-10, 0, 10] per channel, so all medians are
0) unless ``--perturb-quantiles`` is given (then each channel's three quantiles are shifted by one
common offset U(-0.45, 0.45), giving non-zero, non-integer medians). Finally
``model.update(force=True)`` recomputes all CDF buffers.

Calibration (skip with ``--no-calibrate``): a plain random init gives |y| < 0.3, so every
quantised symbol is 0 and the test would check nothing. So, on the given input, each conv/deconv
layer's weight and bias are multiplied by one scalar so its output has a target std (1 inside the
transforms, y: 3, z: 2, last h_s conv: 1.5 with +3 added to the bias of the scale channels,
last g_s deconv: 0.3 with +0.5 bias so x_hat straddles [0, 1] and the clamp matters). This runs
before ``update(force=True)``; the exported weights are the calibrated ones.

Input: ``--image`` PNG (RGB, top-left H x W crop, /255) or, by default, smooth seeded noise in
[0, 1] (coarse uniform noise bilinearly upsampled plus a little fine noise, clamped).

Padding convention: if H or W is not a multiple of 64, ``x`` is zero-padded at the bottom and the
right (``F.pad(x, (0, Wp - W, 0, Hp - H))``, Hp/Wp = next multiples of 64) BEFORE ``g_a``; all
latents are computed from ``x_padded``; ``x_hat`` (and ``x_hat_unclamped``) are ``g_s(y_hat)``
cropped back to the top-left H x W. (CompressAI's own example code pads centred; this project uses
bottom/right.) 64 is used for all three archs, although the factorized model only needs 16.

Reference tensors (all float32, batch 1, NCHW), matching CompressAI's eval-mode forward():
  x (1x3xHxW, unpadded), x_padded (1x3xHpxWp), y = g_a(x_padded),
  hyperprior archs:  z = h_a(|y|) (bmshj2018-hyperprior) or h_a(y) (mbt2018-mean),
                     z_hat = round(z - median_c) + median_c, z_likelihoods (bound 1e-9),
                     scales_hat = h_s(z_hat)  (mbt2018-mean: first M channels of h_s(z_hat);
                     means_hat = the last M channels),
                     y_hat = round(y - means) + means (means = 0 for bmshj2018-hyperprior),
                     y_likelihoods (GaussianConditional, scales lower-bounded at 0.11, bound 1e-9)
  bmshj2018-factorized: y_hat = round(y - median_c) + median_c, y_likelihoods from the
                     entropy bottleneck (no z / scales / means)
  x_hat = clamp(g_s(y_hat), 0, 1)[..., :H, :W]  (CompressAI's decompress() clamps),
  x_hat_unclamped = g_s(y_hat)[..., :H, :W].
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402,F401  (silences warnings)
from _common import ARCHS, to_safetensors_dict  # noqa: E402

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

PAD_MULTIPLE = 64


def perturb(model, seed: int, perturb_quantiles: bool) -> None:
    from compressai.entropy_models import EntropyBottleneck
    from compressai.layers import GDN

    g = torch.Generator().manual_seed(seed)

    def randn(t):
        return torch.randn(t.shape, generator=g, dtype=t.dtype)

    def rand(t):
        return torch.rand(t.shape, generator=g, dtype=t.dtype)

    with torch.no_grad():
        for name, m in model.named_modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) and m.bias is not None:
                m.bias.add_(0.02 * randn(m.bias))
            elif isinstance(m, GDN):
                m.beta.add_(0.1 * rand(m.beta))
                m.gamma.add_(0.05 * rand(m.gamma))
            elif isinstance(m, EntropyBottleneck):
                for p in m.matrices:
                    p.add_(0.05 * randn(p))
                for p in m.biases:
                    p.add_(0.05 * randn(p))
                for p in m.factors:
                    p.add_(0.1 * randn(p))
                if perturb_quantiles:
                    shift = (torch.rand((m.quantiles.shape[0], 1, 1), generator=g) - 0.5) * 0.9
                    m.quantiles.add_(shift)


def calibrate(model, arch: str, x_padded: torch.Tensor) -> None:
    """Rescale conv/deconv layers (weight and bias by one factor each, plus a bias shift on a few
    layers) so that, on this input, activations have useful ranges: a plain random init gives
    |y| < 0.3, every quantised symbol 0 and hyper-scales near 0, which would test nothing."""
    M = int(model.M)

    def run(seq, h, targets):
        for i, layer in enumerate(seq):
            if i in targets:
                std_t, shift = targets[i]
                f = std_t / float(layer(h).std())
                layer.weight.mul_(f)
                layer.bias.mul_(f)
                if callable(shift):
                    shift(layer.bias)
                else:
                    layer.bias.add_(shift)
            h = layer(h)
        return h

    with torch.no_grad():
        y = run(model.g_a, x_padded, {0: (1.0, 0.0), 2: (1.0, 0.0), 4: (1.0, 0.0), 6: (3.0, 0.0)})
        if arch != "bmshj2018-factorized":
            z = run(model.h_a, torch.abs(y) if arch == "bmshj2018-hyperprior" else y,
                    {0: (1.0, 0.0), 2: (1.0, 0.0), 4: (2.0, 0.0)})
            if arch == "mbt2018-mean":
                def shift(b):  # scales (first M channels) mostly positive; means centred
                    b[:M] += 3.0
            else:
                shift = 3.0
            run(model.h_s, torch.round(z), {0: (1.0, 0.0), 2: (1.0, 0.0), 4: (1.5, shift)})
        run(model.g_s, torch.round(y), {0: (1.0, 0.0), 2: (1.0, 0.0), 4: (1.0, 0.0), 6: (0.3, 0.5)})


def make_input(args) -> torch.Tensor:
    H, W = args.height, args.width
    if args.image:
        from PIL import Image

        img = Image.open(args.image).convert("RGB")
        if img.width < W or img.height < H:
            raise SystemExit(f"error: image {args.image} is {img.width}x{img.height}, smaller than {W}x{H}")
        t = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8)
        t = t.reshape(img.height, img.width, 3).permute(2, 0, 1)[:, :H, :W]
        return (t.to(torch.float32) / 255.0).unsqueeze(0).contiguous()
    g = torch.Generator().manual_seed(args.seed + 1)
    coarse = torch.rand((1, 3, max(1, H // 8) + 1, max(1, W // 8) + 1), generator=g)
    x = F.interpolate(coarse, size=(H, W), mode="bilinear", align_corners=False)
    x = x + 0.05 * (torch.rand((1, 3, H, W), generator=g) - 0.5)
    return x.clamp(0.0, 1.0).contiguous()


def bits(lik: torch.Tensor) -> float:
    return float(-torch.log2(lik.double()).sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arch", required=True, choices=ARCHS)
    ap.add_argument("--quality", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--height", type=int, default=64)
    ap.add_argument("--width", type=int, default=96)
    ap.add_argument("--image", help="PNG (any PIL-readable RGB image); top-left HxW crop")
    ap.add_argument("--perturb-quantiles", action="store_true",
                    help="also shift the entropy-bottleneck quantiles (non-zero medians)")
    ap.add_argument("--no-calibrate", action="store_true",
                    help="skip the activation-range calibration (raw random init: y_hat ~ all 0)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    from compressai.zoo import image_models
    from safetensors.torch import save_file

    torch.manual_seed(args.seed)
    model = image_models[args.arch](quality=args.quality, pretrained=False)
    perturb(model, args.seed, args.perturb_quantiles)
    model = model.eval().float()
    N, M = int(model.N), int(model.M)

    H, W = args.height, args.width
    Hp = (H + PAD_MULTIPLE - 1) // PAD_MULTIPLE * PAD_MULTIPLE
    Wp = (W + PAD_MULTIPLE - 1) // PAD_MULTIPLE * PAD_MULTIPLE
    x = make_input(args)
    x_padded = F.pad(x, (0, Wp - W, 0, Hp - H), mode="constant", value=0.0)
    if not args.no_calibrate:
        calibrate(model, args.arch, x_padded)
    model.update(force=True)

    ref = {"x": x, "x_padded": x_padded}
    hyper = args.arch != "bmshj2018-factorized"
    with torch.no_grad():
        y = model.g_a(x_padded)
        ref["y"] = y
        if not hyper:
            y_hat, y_lik = model.entropy_bottleneck(y)  # eval: dequantize with medians
            z_lik = None
        else:
            z = model.h_a(torch.abs(y) if args.arch == "bmshj2018-hyperprior" else y)
            z_hat, z_lik = model.entropy_bottleneck(z)
            params = model.h_s(z_hat)
            if args.arch == "mbt2018-mean":
                scales_hat, means_hat = params.chunk(2, 1)
            else:
                scales_hat, means_hat = params, None
            y_hat, y_lik = model.gaussian_conditional(y, scales_hat, means=means_hat)
            ref.update(z=z, z_hat=z_hat, z_likelihoods=z_lik, scales_hat=scales_hat)
            if means_hat is not None:
                ref["means_hat"] = means_hat
        ref["y_hat"] = y_hat
        ref["y_likelihoods"] = y_lik
        x_hat_full = model.g_s(y_hat)
        ref["x_hat_unclamped"] = x_hat_full[..., :H, :W]
        ref["x_hat"] = x_hat_full.clamp(0, 1)[..., :H, :W]

        # Cross-check against CompressAI's own forward() and compress()/decompress().
        fwd = model(x_padded)
        fwd_gap = float((fwd["x_hat"][..., :H, :W] - ref["x_hat_unclamped"]).abs().max())
        enc = model.compress(x_padded)
        dec = model.decompress(enc["strings"], enc["shape"])
        dec_gap = float((dec["x_hat"][..., :H, :W] - ref["x_hat"]).abs().max())

    names = ["y", "z"] if hyper else ["y"]
    string_bytes = {n: [len(s) for s in strs] for n, strs in zip(names, enc["strings"])}
    total = sum(sum(v) for v in string_bytes.values())
    meta = {
        "arch": args.arch,
        "quality": args.quality,
        "seed": args.seed,
        "N": N,
        "M": M,
        "H": H,
        "W": W,
        "padded_H": Hp,
        "padded_W": Wp,
        "pad_multiple": PAD_MULTIPLE,
        "padding": "zeros, bottom/right (F.pad(x, (0, padded_W - W, 0, padded_H - H)))",
        "image": args.image,
        "perturb_quantiles": bool(args.perturb_quantiles),
        "calibrated": not args.no_calibrate,
        "compress_shape": list(enc["shape"]),
        "string_bytes": string_bytes,
        "total_bytes": total,
        "bpp_strings_unpadded": total * 8.0 / (H * W),
        "estimated_bits": {"y": bits(y_lik), **({"z": bits(z_lik)} if hyper else {})},
        "max_abs_x_hat_decompress_vs_forward": dec_gap,
        "max_abs_x_hat_model_forward_vs_reference": fwd_gap,
        "entropy_bottleneck_medians": model.entropy_bottleneck._get_medians().detach().flatten().tolist(),
        "entropy_bottleneck_tail_mass": model.entropy_bottleneck.tail_mass,
        "entropy_coder_precision": model.entropy_bottleneck.entropy_coder_precision,
        "likelihood_bound": 1e-9,
        "y_hat_nonzero_fraction": float((y_hat != 0).float().mean()),
        "y_abs_max": float(y.abs().max()),
        "torch": torch.__version__,
        "compressai": __import__("compressai").__version__,
    }
    meta["estimated_bits"]["total"] = sum(meta["estimated_bits"].values())
    if hyper:
        meta["gaussian_conditional_scale_table"] = model.gaussian_conditional.scale_table.tolist()
        meta["gaussian_conditional_scale_bound"] = float(model.gaussian_conditional.scale_bound)

    os.makedirs(args.out, exist_ok=True)
    save_file(
        to_safetensors_dict(model.state_dict()),
        os.path.join(args.out, "weights.safetensors"),
        metadata={
            "arch": args.arch,
            "quality": str(args.quality),
            "N": str(N),
            "M": str(M),
            "source": f"compressai-1.2.8 random init seed {args.seed}",
        },
    )
    save_file(
        {k: v.detach().to(torch.float32).contiguous() for k, v in ref.items()},
        os.path.join(args.out, "reference.safetensors"),
        metadata={"arch": args.arch, "H": str(H), "W": str(W), "padded_H": str(Hp), "padded_W": str(Wp)},
    )
    with open(os.path.join(args.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    if not (math.isfinite(dec_gap) and dec_gap < 1e-4):
        print(f"warning: decompress x_hat differs from forward x_hat by {dec_gap:g}", file=sys.stderr)
    print(
        f"{args.arch} q{args.quality} N={N} M={M} {H}x{W} (padded {Hp}x{Wp}): "
        f"{total} bytes, est. {meta['estimated_bits']['total']:.1f} bits, "
        f"decompress gap {dec_gap:.3g} -> {args.out}"
    )


if __name__ == "__main__":
    main()
