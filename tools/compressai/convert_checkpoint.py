#!/usr/bin/env python3
"""Convert a CompressAI checkpoint to safetensors with CompressAI 1.2.8's key names.

    .venv/bin/python tools/compressai/convert_checkpoint.py IN.pth.tar OUT.safetensors \
        [--arch bmshj2018-factorized|bmshj2018-hyperprior|mbt2018-mean] [--quality Q]

IN may be a bare state_dict (as the CompressAI zoo ships) or a dict holding one under
"state_dict" or "model"; a DataParallel "module." prefix is stripped, and old entropy-bottleneck
key names (``_biases.0`` / ``_bias0`` / ``_matrix0`` / ``_factor0``) are mapped to 1.2.8's
``biases.0`` / ``matrices.0`` / ``factors.0`` (CompressAI's own load_pretrained + load_state_dict).
The weights are always loaded into the CompressAI model (arch given or inferred: no ``h_a.*`` ->
bmshj2018-factorized; last ``h_s`` conv with 2*M outputs -> mbt2018-mean; else
bmshj2018-hyperprior) and written back from ``model.state_dict()``: float32 floats, int32
integer buffers. If the CDF buffers are empty (``_quantized_cdf`` not present or empty),
``model.update(force=True)`` is called first. Metadata: arch, N, M (N = g_a.0.weight.shape[0],
M = g_a.6.weight.shape[0]), quality (if given), source. Errors: one line on stderr, exit 1.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ARCHS, infer_arch, infer_NM, model_class, to_safetensors_dict  # noqa: E402

import torch  # noqa: E402

# Deterministic constant buffers that some older checkpoints may lack; taken from a fresh model.
CONSTANT_SUFFIXES = (".pedestal", ".lower_bound.bound", ".likelihood_lower_bound.bound",
                     ".lower_bound_scale.bound", "entropy_bottleneck.target",
                     "gaussian_conditional.scale_bound")


class Fail(Exception):
    pass


def load_state_dict(path: str) -> dict:
    if not os.path.isfile(path):
        raise Fail(f"{path}: no such file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001
        why = "weights-only unpickling failed" if "Weights only load failed" in str(e) else (
            " ".join(str(e).split())[:160] or type(e).__name__)
        raise Fail(f"{path}: not a loadable PyTorch checkpoint ({why})") from None
    if isinstance(obj, dict):
        for key in ("state_dict", "model"):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise Fail(f"{path}: no state_dict of tensors found (expected a bare state_dict or a "
                   f"'state_dict'/'model' entry)")
    from compressai.zoo.pretrained import load_pretrained

    sd = load_pretrained(dict(obj))  # strips "module.", renames old EntropyBottleneck keys
    if "g_a.0.weight" not in sd or "g_a.6.weight" not in sd:
        raise Fail(f"{path}: no g_a.0.weight / g_a.6.weight: not a bmshj2018/mbt2018-mean checkpoint")
    return sd


def convert(args) -> str:
    sd = load_state_dict(args.input)
    arch = args.arch or infer_arch(sd)
    N, M = infer_NM(sd)
    model = model_class(arch)(N, M)
    fresh = model.state_dict()
    sd = dict(sd)
    for k, v in fresh.items():  # fill constant buffers missing from old checkpoints
        if k not in sd and k.endswith(CONSTANT_SUFFIXES):
            sd[k] = v.clone()
    # CDF buffers absent entirely: give them empty tensors so load_state_dict accepts them.
    for k, v in fresh.items():
        if k not in sd and k.rsplit(".", 1)[-1] in ("_offset", "_quantized_cdf", "_cdf_length", "scale_table"):
            sd[k] = v.clone()
    try:
        model.load_state_dict(sd)  # CompressAI override: resizes CDF buffers, remaps old keys
    except Exception as e:  # noqa: BLE001
        msg = " ".join(str(e).split())
        raise Fail(f"{args.input}: does not load as {arch} (N={N}, M={M}): {msg[:300]}") from None
    updated = False
    needs_update = model.entropy_bottleneck._quantized_cdf.numel() == 0 or (
        hasattr(model, "gaussian_conditional") and model.gaussian_conditional._quantized_cdf.numel() == 0)
    if needs_update:
        model.update(force=True)
        updated = True
    meta = {"arch": arch, "N": str(N), "M": str(M),
            "source": f"converted from {os.path.basename(args.input)} by compressai-1.2.8"
                      + (" (CDFs recomputed with update(force=True))" if updated else "")}
    if args.quality is not None:
        meta["quality"] = str(args.quality)
    from safetensors.torch import save_file

    tmp = args.output + ".tmp"
    save_file(to_safetensors_dict(model.state_dict()), tmp, metadata=meta)
    os.replace(tmp, args.output)
    return f"{args.output}: {arch} N={N} M={M}, {len(model.state_dict())} tensors" + (
        ", CDFs updated" if updated else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--arch", choices=ARCHS)
    ap.add_argument("--quality", type=int)
    args = ap.parse_args()
    torch.set_num_threads(1)
    try:
        print(convert(args))
    except Fail as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
