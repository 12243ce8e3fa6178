"""Independent check of the kit's analytic parameter and FLOP counts at the roadmap's two ends.

Counts torchvision's ResNet-50 and timm's ConvNeXt-T with fvcore (the FLOP counter the ConvNeXt
paper's numbers come from) and compares them with `npx convnext-xray stages --json`.
Not part of the tests (it needs PyTorch); run it by hand:

    python3 -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install torch torchvision timm fvcore
    npx convnext-xray stages --json > /tmp/stages.json
    /tmp/torchvenv/bin/python tools/flops_reference.py /tmp/stages.json

Measured 2026-11-29: ResNet-50 25,557,032 parameters, conv+linear 4.0892 GFLOPs (fvcore total
with BatchNorm 4.1115); ConvNeXt-T 28,589,128 parameters, conv+linear 4.4555 GFLOPs (total with
LayerNorm 4.4704). The kit's counts (conv + classifier multiply-adds) agree to the last digit.
"""
import json
import sys

import timm
import torch
import torchvision
from fvcore.nn import FlopCountAnalysis

MATMUL_OPS = ('conv', 'linear', 'addmm', 'matmul')


def count(model):
    model.eval()
    analysis = FlopCountAnalysis(model, torch.zeros(1, 3, 224, 224))
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    by_op = analysis.by_operator()
    return {
        'params': sum(p.numel() for p in model.parameters()),
        'gflops_conv_linear': sum(v for k, v in by_op.items() if k in MATMUL_OPS) / 1e9,
        'gflops_total': analysis.total() / 1e9,
    }


def main():
    kit = {row['step']: row for row in json.load(open(sys.argv[1]))}
    pairs = [('resnet', torchvision.models.resnet50()), ('separate-downsampling', timm.create_model('convnext_tiny'))]
    ok = True
    for step, model in pairs:
        ref = count(model)
        ours = kit[step]
        same_params = ref['params'] == ours['params']
        same_flops = abs(ref['gflops_conv_linear'] - ours['gflops']) < 5e-4
        ok &= same_params and same_flops
        print(f"{step}: params kit {ours['params']} / reference {ref['params']}; GFLOPs kit {ours['gflops']:.4f} / "
              f"reference conv+linear {ref['gflops_conv_linear']:.4f} (fvcore total {ref['gflops_total']:.4f})"
              f"{'' if same_params and same_flops else '  MISMATCH'}")
    sys.exit(0 if ok else 1)


if __name__ == '__main__':
    main()
