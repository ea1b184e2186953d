#!/usr/bin/env python3
"""Print every state_dict key of a CompressAI 1.2.8 model with shape and dtype.

    .venv/bin/python tools/compressai/list_keys.py --arch mbt2018-mean --quality 3 [--no-update]

By default ``model.update(force=True)`` is called first, so the CDF buffers (``_offset``,
``_quantized_cdf``, ``_cdf_length``, ``scale_table``) show the shapes a real (updated) checkpoint
has; the CDF widths depend on the weights (they are for the fresh random init here).
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ARCHS  # noqa: E402

import torch  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arch", required=True, choices=ARCHS)
    ap.add_argument("--quality", type=int, default=3)
    ap.add_argument("--no-update", action="store_true", help="don't call update(force=True)")
    args = ap.parse_args()
    from compressai.zoo import image_models

    torch.manual_seed(0)
    model = image_models[args.arch](quality=args.quality, pretrained=False)
    if not args.no_update:
        model.update(force=True)
    sd = model.state_dict()
    print(f"# {args.arch} quality {args.quality}: N={model.N} M={model.M}, {len(sd)} tensors"
          + ("" if args.no_update else " (after update(force=True))"))
    w = max(len(k) for k in sd)
    for k, v in sd.items():
        print(f"{k:<{w}}  {str(list(v.shape)):<20} {str(v.dtype).replace('torch.', '')}")


if __name__ == "__main__":
    main()
