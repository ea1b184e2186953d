"""Shared helpers for the CompressAI compatibility tools (compressai==1.2.8).

Import-time quietening: CompressAI pulls in torchvision/scipy/etc.; warnings from those are noise
for these tools.
"""

from __future__ import annotations

import warnings

warnings.filterwarnings("ignore")

import torch  # noqa: E402

ARCHS = ("bmshj2018-factorized", "bmshj2018-hyperprior", "mbt2018-mean")


def to_safetensors_dict(state_dict: dict) -> dict:
    """float tensors -> contiguous float32, integer tensors -> contiguous int32, same keys."""
    out = {}
    for k, v in state_dict.items():
        if not isinstance(v, torch.Tensor):
            raise TypeError(f"state_dict entry {k!r} is not a tensor ({type(v).__name__})")
        v = v.detach().cpu()
        if v.is_floating_point():
            v = v.to(torch.float32)
        elif v.dtype in (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8, torch.bool):
            v = v.to(torch.int32)
        else:
            raise TypeError(f"state_dict entry {k!r} has unsupported dtype {v.dtype}")
        out[k] = v.contiguous().clone()
    return out


def infer_arch(state_dict: dict) -> str:
    """Infer the architecture from key names/shapes (only the three supported archs)."""
    if not any(k.startswith("h_a.") for k in state_dict):
        return "bmshj2018-factorized"
    M = state_dict["g_a.6.weight"].shape[0]
    last = max(
        (k for k in state_dict if k.startswith("h_s.") and k.endswith(".weight")),
        key=lambda k: int(k.split(".")[1]),
    )
    w = state_dict[last]
    # h_s last layer is a Conv2d (weight [out, in, k, k]) for both hyperprior archs.
    if w.shape[0] == 2 * M:
        return "mbt2018-mean"
    return "bmshj2018-hyperprior"


def infer_NM(state_dict: dict) -> tuple[int, int]:
    return int(state_dict["g_a.0.weight"].shape[0]), int(state_dict["g_a.6.weight"].shape[0])


def model_class(arch: str):
    from compressai.zoo.image import model_architectures

    return model_architectures[arch]
