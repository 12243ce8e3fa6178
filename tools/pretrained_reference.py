"""PyTorch oracle for loading pretrained ConvNeXt (V1) checkpoints: small random models, saved by
`transformers` and by `timm` exactly as those libraries save them, with their logits.

What it writes, under test/fixtures/pretrained/:
- hf-a/, hf-b/: transformers.ConvNextForImageClassification, saved with model.save_pretrained()
  (config.json + model.safetensors, as on the Hugging Face hub, e.g. facebook/convnext-tiny-224).
- timm-a/ (convnext_atto: conv_mlp=True, 1x1 Conv2d MLP, weights [out, in, 1, 1]) and timm-b/
  (convnext_tiny: conv_mlp=False, Linear MLP), saved with timm.models.save_for_hf() (config.json
  in timm's hub format: architecture, num_classes, model_args, pretrained_cfg + model.safetensors).
- in each: reference.npz with `input` (NHWC float32 [2, 64, 64, 3], the kit's layout) and
  `logits` (eval mode, float32 [2, num_classes]); the timm ones also `input_gray` [2, 64, 64, 1]
  and `logits_gray`: the same weights adapted to one input channel as timm adapts a pretrained
  stem (timm.models.adapt_input_conv(1, w): the RGB filters summed), run in a 1-channel model.
  And fixture.json: generator versions, seed, architecture, parameter count, file sizes/sha256.
- layouts/<name>.json: names and shapes (no weights) of real-size models, as their
  model.safetensors would hold them, with the config.json the library would save and the
  parameter count: hf-convnext-tiny-224 (transformers' default ConvNextConfig, 1000 labels, the
  architecture of facebook/convnext-tiny-224), timm-convnext_atto and timm-convnext_tiny.

Why: the kit's loader maps these checkpoints onto its own channels-last network; the tests load
the committed folders and must reproduce PyTorch's logits (to 1e-4). Every parameter is random
(fixed seed) so a wrong mapping cannot pass: conv/linear weights N(0, 1/fan_in), biases 0.1 N,
LayerNorm weight 1 + 0.2 N and bias 0.1 N, layer scale 0.5 + 0.2 N (the libraries' init, zero
biases, unit norms and 1e-6 layer scale, would hide whole branches). The logits are computed in
float32 and checked against float64 (max difference 1e-5), and must be O(0.1-10). Depthwise
7x7 convs pad 3 on every side; downsampling is LayerNorm then a 2x2 stride-2 conv; the head
pools (mean over H, W), then LayerNorm, then Linear; GELU is exact (erf) in both libraries.

Each folder is then read back with the library's own loader (ConvNextForImageClassification.
from_pretrained(folder); timm.create_model("local-dir:" + folder, pretrained=True), also with
in_chans=1, which adapts the stem itself) and must give the same logits bit for bit.

Deterministic: one CPU thread and fixed seeds. np.savez (stored entries, zip64 forced) writes
through ZipFile.open(name, "w"), which dates every entry 1980-01-01 (ZipInfo's default), and
safetensors' files carry no time, so a rerun gives byte-identical files (--check verifies that
against the committed ones).

Not part of the tests and not a dependency of the kit (the kit never imports Python). Regenerate
from the project folder (the torch venv of tools/requirements-torch.txt, plus timm/transformers):

    python3 -m venv .venv-torch
    .venv-torch/bin/pip install --no-deps -r tools/requirements-torch.txt
    .venv-torch/bin/pip install --no-deps -r tools/requirements-pretrained.txt
    .venv-torch/bin/python tools/pretrained_reference.py            # writes test/fixtures/pretrained
    .venv-torch/bin/python tools/pretrained_reference.py --check    # rebuilds in a temp folder, compares bytes
"""

import argparse
import copy
import filecmp
import hashlib
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

import safetensors
import safetensors.torch
import timm
import transformers
from timm.models import adapt_input_conv, save_for_hf
from transformers import ConvNextConfig, ConvNextForImageClassification

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "test" / "fixtures" / "pretrained"
COMMAND = ".venv-torch/bin/python tools/pretrained_reference.py"
SEED = 20260101
SIZE = 64
BATCH = 2
F64_TOLERANCE = 1e-5

# The b variants: another width (not a multiple of 8) and more blocks; dims 12..96 would make a
# folder about 830 KB. Dims double from stage to stage (the kit builds only that).
FIXTURES = [
    dict(name="hf-a", kind="hf", depths=(1, 1, 2, 1), dims=(8, 16, 32, 64),
         labels=("effusion", "nodule", "normal")),
    dict(name="hf-b", kind="hf", depths=(2, 1, 3, 1), dims=(10, 20, 40, 80),
         labels=("negative", "positive")),
    dict(name="timm-a", kind="timm", architecture="convnext_atto", depths=(1, 1, 2, 1),
         dims=(8, 16, 32, 64), num_classes=3),
    dict(name="timm-b", kind="timm", architecture="convnext_tiny", depths=(2, 1, 3, 1),
         dims=(10, 20, 40, 80), num_classes=4),
]

LAYOUTS = [
    dict(name="hf-convnext-tiny-224", kind="hf"),
    dict(name="timm-convnext_atto", kind="timm", architecture="convnext_atto"),
    dict(name="timm-convnext_tiny", kind="timm", architecture="convnext_tiny"),
]


def versions():
    return {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "timm": timm.__version__,
        "transformers": transformers.__version__,
        "safetensors": safetensors.__version__,
        "numpy": np.__version__,
    }


# ---- models ---------------------------------------------------------------------------------

def hf_config(spec):
    labels = spec["labels"]
    return ConvNextConfig(
        hidden_sizes=list(spec["dims"]),
        depths=list(spec["depths"]),
        id2label={i: name for i, name in enumerate(labels)},
        label2id={name: i for i, name in enumerate(labels)},
        layer_scale_init_value=1e-6,
        image_size=SIZE,
    )


def build(spec, in_chans=3):
    if spec["kind"] == "hf":
        assert in_chans == 3
        model = ConvNextForImageClassification(hf_config(spec))
    else:
        model = timm.create_model(spec["architecture"], pretrained=False, depths=spec["depths"],
                                  dims=spec["dims"], num_classes=spec["num_classes"], in_chans=in_chans)
    return model.eval()


def conv_mlp(model):
    """Whether the blocks' MLP is 1x1 Conv2d (timm conv_mlp=True) rather than Linear."""
    convs = [m for n, m in model.named_modules() if n.endswith("mlp.fc1") or n.endswith("pwconv1")]
    assert convs
    return isinstance(convs[0], nn.Conv2d)


def randomize(model, seed):
    """Overwrite every parameter from a seeded generator; fail on a parameter of unknown kind."""
    gen = torch.Generator().manual_seed(seed)
    owner = {}
    for mname, module in model.named_modules():
        for pname, _ in module.named_parameters(recurse=False):
            owner[f"{mname}.{pname}" if mname else pname] = (module, pname)

    def normal(shape):
        return torch.randn(shape, generator=gen, dtype=torch.float32)

    with torch.no_grad():
        for name, param in model.named_parameters():
            module, pname = owner[name]
            shape = param.shape
            if isinstance(module, (nn.Conv2d, nn.Linear)) and pname == "weight":
                fan_in = param[0].numel()  # in/groups * kh * kw
                value = normal(shape) / fan_in ** 0.5
            elif isinstance(module, (nn.Conv2d, nn.Linear)) and pname == "bias":
                value = 0.1 * normal(shape)
            elif isinstance(module, nn.LayerNorm) and pname == "weight":
                value = 1 + 0.2 * normal(shape)
            elif isinstance(module, nn.LayerNorm) and pname == "bias":
                value = 0.1 * normal(shape)
            elif pname in ("gamma", "layer_scale_parameter"):
                value = 0.5 + 0.2 * normal(shape)
            else:
                raise SystemExit(f"randomize: no rule for {name} ({type(module).__name__}.{pname})")
            param.copy_(value)


def logits_of(model, nhwc):
    """Eval-mode logits for an NHWC batch, in float32, checked against the same model in float64."""
    x = torch.from_numpy(nhwc).permute(0, 3, 1, 2).contiguous()
    with torch.no_grad():
        out32 = model_logits(model, x)
        out64 = model_logits(copy.deepcopy(model).double(), x.double())
    diff = float((out32.double() - out64).abs().max())
    if diff > F64_TOLERANCE:
        raise SystemExit(f"float32 logits differ from float64 by {diff:.2e} (> {F64_TOLERANCE})")
    return out32.numpy().astype("<f4"), diff


def model_logits(model, x):
    out = model(x)
    return out.logits if hasattr(out, "logits") else out


def check_scale(name, logits):
    peak = float(np.abs(logits).max())
    if not 0.1 <= peak <= 10:
        raise SystemExit(f"{name}: logits peak at {peak:.3g}, outside 0.1-10 (weights scaled wrong?)")
    if np.abs(logits[0] - logits[1]).max() < 1e-3:
        raise SystemExit(f"{name}: the two images give the same logits")
    return peak


# ---- files ----------------------------------------------------------------------------------

def reloaded(spec, folder, arrays):
    """Load the saved folder with the library's own loader: the logits must not change at all."""
    pairs = [("input", "logits", 3)] + ([("input_gray", "logits_gray", 1)] if "input_gray" in arrays else [])
    for key_in, key_out, chans in pairs:
        if spec["kind"] == "hf":
            model = ConvNextForImageClassification.from_pretrained(folder)
        else:
            model = timm.create_model(f"local-dir:{folder}", pretrained=True, in_chans=chans)
        x = torch.from_numpy(arrays[key_in]).permute(0, 3, 1, 2).contiguous()
        with torch.no_grad():
            again = model_logits(model.eval(), x).numpy()
        if not np.array_equal(again, arrays[key_out]):
            raise SystemExit(f"{spec['name']}: {key_out} change when the saved folder is loaded back")


def file_info(path):
    data = path.read_bytes()
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def param_count(model):
    return sum(p.numel() for p in model.parameters())


def write_fixture(spec, index, out):
    seed = SEED + index
    folder = out / spec["name"]
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)

    torch.manual_seed(seed)  # the libraries' own init (overwritten below) draws from the global RNG
    model = build(spec)
    randomize(model, seed)
    rng = np.random.default_rng(seed)
    arrays = {"input": rng.standard_normal((BATCH, SIZE, SIZE, 3)).astype("<f4")}
    arrays["logits"], diff = logits_of(model, arrays["input"])
    peak = check_scale(spec["name"], arrays["logits"])
    checks = {"float64_max_abs_diff": diff, "logits_max_abs": peak}

    if spec["kind"] == "hf":
        model.save_pretrained(folder)  # transformers 5 writes safetensors only
    else:
        save_for_hf(model, folder, safe_serialization=True)
        gray = build(spec, in_chans=1)
        state = model.state_dict()
        state["stem.0.weight"] = adapt_input_conv(1, state["stem.0.weight"])
        gray.load_state_dict(state, strict=True)
        arrays["input_gray"] = rng.standard_normal((BATCH, SIZE, SIZE, 1)).astype("<f4")
        arrays["logits_gray"], diff_gray = logits_of(gray, arrays["input_gray"])
        checks["gray_float64_max_abs_diff"] = diff_gray
        checks["gray_logits_max_abs"] = check_scale(spec["name"] + " gray", arrays["logits_gray"])
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"], list(folder.iterdir())

    # the saved file holds exactly the state dict
    saved = safetensors.torch.load_file(folder / "model.safetensors")
    state = model.state_dict()
    assert saved.keys() == state.keys(), set(saved) ^ set(state)
    assert all(torch.equal(saved[k], state[k]) for k in state)

    reloaded(spec, folder, arrays)
    np.savez(folder / "reference.npz", **arrays)
    meta = {
        "kind": spec["kind"],
        "architecture": spec.get("architecture", "ConvNextForImageClassification"),
        "seed": seed,
        "depths": list(spec["depths"]),
        "dims": list(spec["dims"]),
        "num_classes": int(arrays["logits"].shape[1]),
        "conv_mlp": conv_mlp(model),
        "params": param_count(model),
        "input_size": [SIZE, SIZE],
        "reference": {k: list(v.shape) for k, v in arrays.items()},
        "checks": checks,
        "files": {p: file_info(folder / p) for p in ("config.json", "model.safetensors", "reference.npz")},
        "generator": versions(),
        "command": COMMAND,
    }
    (folder / "fixture.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"{spec['name']:7} {meta['params']:>7,} params  conv_mlp={meta['conv_mlp']!s:5}  "
          f"logits |max| {peak:.3g}  f32-f64 {diff:.1e}  " +
          f"{sum(f.stat().st_size for f in folder.iterdir()) / 1024:.0f} KiB")


def write_layout(spec, out):
    """Names and shapes of a real-size model's state dict, its saved config.json, its parameter count."""
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(SEED)
        if spec["kind"] == "hf":
            model = ConvNextForImageClassification(ConvNextConfig(num_labels=1000))
            model.save_pretrained(tmp)
        else:
            model = timm.create_model(spec["architecture"], pretrained=False, num_classes=1000)
            save_for_hf(model, tmp, safe_serialization=True)
        config = json.loads((Path(tmp) / "config.json").read_text())
        with safetensors.safe_open(Path(tmp) / "model.safetensors", framework="pt") as f:
            saved = {k: list(f.get_slice(k).get_shape()) for k in f.keys()}
    state = model.state_dict()
    buffers = {name for name, _ in model.named_buffers()}
    in_state_buffers = [k for k in state if k in buffers]
    tensors = {k: list(v.shape) for k, v in state.items()}
    assert saved == tensors, set(saved.items()) ^ set(tensors.items())
    params = param_count(model)
    assert sum(int(np.prod(s)) for k, s in tensors.items() if k not in buffers) == params

    lines = ["{", f'  "kind": {json.dumps(spec["kind"])},',
             '  "config": ' + json.dumps(config, indent=2).replace("\n", "\n  ") + ",",
             '  "tensors": {']
    lines += [f"    {json.dumps(k)}: {json.dumps(s)}," for k, s in tensors.items()]
    lines[-1] = lines[-1].rstrip(",")
    lines += ["  },", f'  "params": {params}', "}"]
    path = out / "layouts" / f"{spec['name']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    assert json.loads(path.read_text())["tensors"] == tensors
    print(f"{spec['name']:22} {params:>11,} params  {len(tensors)} tensors  buffers in state dict: "
          f"{in_state_buffers or 'none'}")


def generate(out):
    transformers.utils.logging.disable_progress_bar()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    for index, spec in enumerate(FIXTURES):
        write_fixture(spec, index, out)
    for spec in LAYOUTS:
        write_layout(spec, out)


def compare(a, b):
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    bad = sorted(set(files_a) ^ set(files_b))
    bad += [f for f in sorted(set(files_a) & set(files_b)) if not filecmp.cmp(a / f, b / f, shallow=False)]
    return bad


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"output folder (default {OUT.relative_to(ROOT)})")
    parser.add_argument("--check", action="store_true",
                        help="regenerate in a temporary folder and compare bytes with --out (writes nothing there)")
    args = parser.parse_args()
    if not args.check:
        generate(args.out)
        return
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        bad = compare(args.out, Path(tmp))
    if bad:
        raise SystemExit("differ from a fresh run: " + ", ".join(map(str, bad)))
    print(f"{args.out}: byte-identical to a fresh run")


if __name__ == "__main__":
    main()
