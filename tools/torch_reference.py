"""PyTorch CPU reference for the kit's benchmark: the same roadmap networks, trained the same way.

What it measures: for each roadmap step, the images per second of one training step (forward,
cross-entropy, backward, AdamW update) and of one inference forward pass, in PyTorch on the CPU,
timed exactly as `convnext-xray bench` times the kit (src/lib/bench/bench.ts): a batch of
random-normal images [batch, 1, size, size] with labels k % 2, AdamW at lr 1e-4 with weight decay
0.05 on the ≥2-D parameters only, 2 untimed steps, then the median of --iterations timed steps.
With --kit-backend it also runs the kit's own bench and prints both side by side.

Why it reads the network from the kit: the configs live in src/lib/models (steps.ts, plan.ts) and
would drift from any copy kept here. The kit already describes each network as data (its plan:
every op with its input and output shape), so this tool asks node for the plan, builds the same
network in torch op by op, asserts every op's output shape against the plan and the trainable
parameter count (per layer) against the model the kit builds. A change to the kit's networks either
shows up here as-is or stops this tool with a message that names the layer.

Not part of the tests, and not a dependency of the kit (the kit never imports torch). Run by hand
from the project folder after `npm run build` (it uses the built dist/):

    python3 -m venv .venv-torch
    .venv-torch/bin/pip install --no-deps -r tools/requirements-torch.txt
    .venv-torch/bin/python tools/torch_reference.py                           # torch only
    .venv-torch/bin/python tools/torch_reference.py --kit-backend auto        # and the kit
    .venv-torch/bin/python tools/torch_reference.py --steps resnet,gelu --size 96 --json

Mapping of the plan's ops (the kit is channels-last, NHWC; torch here is NCHW logically, with
the channels_last memory format by default, which is NHWC in memory):
- conv: nn.Conv2d; depthwise: groups = channels; the kit's Dense over channels for a 1×1 conv is a
  1×1 Conv2d (the same weights, transposed). TF's 'same' padding puts the odd pixel after
  (bottom/right), so an asymmetric case is padded explicitly with F.pad.
- norm: BatchNorm2d (momentum 0.1 = Keras 0.9), or LayerNorm over the channel axis; eps from the kit.
- maxpool: TF 'same' padding with -inf, then nn.MaxPool2d.
- act: ReLU, or exact-erf GELU. pool: mean over H, W. poolnorm: LayerNorm. head: Linear.
- residual: after(shortcut(x) + drop_path(gamma * body(x))), as build.ts.
Initialisation follows torch's defaults (it does not change the timing), except layer scale's γ.
With the kit's weights copied in (a one-off check, not part of this tool), this mapping gave the
kit's logits to 2e-6 for all 13 steps at 64 px and for four of them at 50 and 96 px (smoke
scale, BatchNorm in training and inference mode); padding the odd pixel before instead of after
gave differences of 0.3-0.5.

Run it on an otherwise idle machine: torch's OpenMP threads (one per core by default) stall
when another process holds a core, and a step can take 10-40× longer; a warning is printed when
the timed steps vary by more than 1.5×. The channels_last memory format was 1.2-1.4× faster
than NCHW for the ResNet step and as fast for ConvNeXt, so it is the default; 1×1 convs as
nn.Linear over channels (as the kit's Dense) were no faster than 1×1 Conv2d.

Measured 2026-11-29 on 2 AMD EPYC cores, idle, torch 2.15.0 on 2 threads, channels_last,
denormals flushed, atto, 64 px, batch 32, median of 21 (img/s, train / forward):
    resnet                  2,940,410 params   310 / 1316   (240-310 train over several runs)
    separate-downsampling   3,373,882 params   285 / 1368
The kit on its native TensorFlow backend in the same run: 155 / 721 and 174 / 618, i.e.
train 0.50 / 0.61 and forward 0.55 / 0.45 of torch (README, "Backends").
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

KIT_ROOT = Path(__file__).resolve().parent.parent
KIT_LIB = KIT_ROOT / 'dist' / 'src' / 'lib' / 'index.js'
KIT_CLI = KIT_ROOT / 'bin' / 'convnext-xray.js'

# As the kit's bench: untimed steps first, then the median of the timed ones.
WARMUP = 2
LEARNING_RATE = 1e-4
# The kit's AdamW defaults (src/lib/train/adamw.ts).
WEIGHT_DECAY = 0.05
BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8
# Grayscale X-rays, NORMAL vs PNEUMONIA: what the bench builds.
IN_CHANNELS = 1
NUM_CLASSES = 2

# Asks the built kit for each step's config and plan, and the trainable parameters of the model it
# builds, per layer. argv[1]: {"steps": [...], "size": n, "scale": "atto", "inChannels": 1, "numClasses": 2}.
NODE_PLAN_SCRIPT = r"""
require('@tensorflow/tfjs-backend-cpu'); // buildModel creates variables: they need a backend
const kit = require('./dist/src/lib');
const m = kit.models;
const { steps, size, scale, inChannels, numClasses } = JSON.parse(process.argv[1]);
process.on('uncaughtException', (err) => {
  // A KitError's message already says what was expected and the fix; others need their stack.
  process.stderr.write(`${err.name === 'KitError' ? err.message : err.stack}\n`);
  process.exit(1);
});
const rows = steps.map((step) => {
  const config = m.configFor(step, { scale, inChannels, numClasses });
  const model = m.buildModel(config, size, { seed: 0 });
  const params = {};
  for (const w of model.trainableWeights) {
    const layer = w.originalName.split('/')[0];
    params[layer] = (params[layer] ?? 0) + w.shape.reduce((a, b) => a * b, 1);
  }
  model.dispose();
  return { step, config, plan: m.planModel(config, size), params };
});
process.stdout.write('\n' + JSON.stringify({ eps: { batch: m.BATCH_NORM_EPS, layer: m.LAYER_NORM_EPS }, rows }) + '\n');
"""


class ToolError(Exception):
    """A failure with what was found and how to fix it; printed without a traceback."""


def log(text):
    print(text, file=sys.stderr, flush=True)


# The kit, through node


def kit_plans(steps, size, scale):
    """{eps: {batch, layer}, rows: [{step, config, plan, params: {layer: n}}]} from the built kit."""
    if not KIT_LIB.exists():
        raise ToolError(f'{KIT_LIB} does not exist: the kit is not built.\n  Fix: run `npm run build` in {KIT_ROOT}.')
    args = json.dumps({'steps': steps, 'size': size, 'scale': scale, 'inChannels': IN_CHANNELS, 'numClasses': NUM_CLASSES})
    done = subprocess.run(['node', '-e', NODE_PLAN_SCRIPT, args], cwd=KIT_ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise ToolError(f'node could not plan {steps} at {size} px, scale {scale}:\n{done.stderr.strip()}')
    # The last line is ours; tfjs may print banners before it.
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_kit_bench(backend, steps, size, batch, scale, iterations):
    """The kit's own benchmark (a BenchResult from src/lib/bench/bench.ts); its progress goes to stderr."""
    cmd = ['node', str(KIT_CLI), 'bench', '--backend', backend, '--size', str(size), '--batch', str(batch),
           '--scale', scale, '--steps', ','.join(steps), '--iterations', str(iterations), '--json']
    log(f"kit: {' '.join(cmd[1:])}")
    done = subprocess.run(cmd, cwd=KIT_ROOT, stdout=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise ToolError(f'the kit\'s bench failed (exit {done.returncode}): {" ".join(cmd)}')
    text = done.stdout
    return json.JSONDecoder().raw_decode(text[text.index('{'):])[0]


# Plan ops as torch modules. Each module is registered under its plan op's name, so a parameter's
# owner is the kit layer that holds the same weights (`stem_conv`, `s1_b1_pwconv2`, `s1_b1_gamma`).


def tf_same_padding(size, kernel, stride):
    """(before, after) padding of TF's 'same': out = ceil(size / stride), the odd pixel after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def same_pad4(in_shape, kernel, stride):
    """F.pad's (left, right, top, bottom) for TF 'same' on an [H, W, C] plan shape."""
    top, bottom = tf_same_padding(in_shape[0], kernel, stride)
    left, right = tf_same_padding(in_shape[1], kernel, stride)
    return left, right, top, bottom


class TfConv2d(nn.Conv2d):
    """Conv2d with TF's padding: symmetric cases pad inside the conv, asymmetric ones with F.pad."""

    def __init__(self, cin, cout, kernel, stride, pad4, groups, bias):
        left, right, top, bottom = pad4
        symmetric = left == right and top == bottom
        super().__init__(cin, cout, kernel, stride, padding=(top, left) if symmetric else 0, groups=groups, bias=bias)
        self.extra_pad = None if symmetric else pad4

    def forward(self, x):
        if self.extra_pad is not None:
            x = F.pad(x, self.extra_pad)
        return super().forward(x)


class TfMaxPool2d(nn.MaxPool2d):
    """Max-pool with TF's 'same' padding: padded cells are -inf, so they never win."""

    def __init__(self, kernel, stride, pad4):
        super().__init__(kernel, stride)
        self.pad4 = pad4

    def forward(self, x):
        return super().forward(F.pad(x, self.pad4, value=float('-inf')))


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of (N, C, H, W), as the kit's over the last axis of NHWC."""

    def forward(self, x):
        x = x.permute(0, 2, 3, 1)  # (N, C, H, W) -> (N, H, W, C)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W)


class LayerScale(nn.Module):
    """Per-channel γ on the residual branch (CaiT / ConvNeXt), initialised to the plan's value."""

    def __init__(self, channels, init):
        super().__init__()
        self.gamma = nn.Parameter(torch.full((channels,), float(init)))

    def forward(self, x):
        return x * self.gamma.view(1, -1, 1, 1)


class DropPath(nn.Module):
    """Stochastic depth: drop a sample's whole branch with probability `rate` while training."""

    def __init__(self, rate):
        super().__init__()
        self.rate = rate

    def forward(self, x):
        if not self.training or self.rate == 0:
            return x
        keep = 1 - self.rate
        mask = x.new_empty(x.shape[0], 1, 1, 1).bernoulli_(keep)  # one factor per sample
        return x * mask / keep


class GlobalAvgPool(nn.Module):
    def forward(self, x):
        return x.mean((2, 3))  # (N, C, H, W) -> (N, C)


class Residual(nn.Module):
    """after(shortcut(x) + drop_path(gamma * body(x))): the branch order of build.ts."""

    def __init__(self, op, eps):
        super().__init__()
        channels = op['out'][2]
        branch = {o['name']: build_op(o, eps) for o in op['body']}
        if op['layerScale'] is not None:
            branch[f"{op['name']}_gamma"] = LayerScale(channels, op['layerScale'])
        if op['dropPath'] > 0:
            branch[f"{op['name']}_drop_path"] = DropPath(op['dropPath'])
        self.body = nn.ModuleDict(branch)
        self.shortcut = nn.ModuleDict({o['name']: build_op(o, eps) for o in op['shortcut']})
        self.after = nn.ModuleDict({o['name']: build_op(o, eps) for o in op['after']})

    def forward(self, x):
        branch = x
        for m in self.body.values():
            branch = m(branch)
        shortcut = x
        for m in self.shortcut.values():
            shortcut = m(shortcut)
        x = shortcut + branch
        for m in self.after.values():
            x = m(x)
        return x


def build_op(op, eps):
    """One plan op (src/lib/models/plan.ts) as a torch module."""
    kind = op['op']
    if kind == 'conv':
        cin = op['in'][2]
        pad4 = same_pad4(op['in'], op['kernel'], op['stride']) if op['padding'] == 'same' else (0, 0, 0, 0)
        groups = cin if op['depthwise'] else 1
        return TfConv2d(cin, op['filters'], op['kernel'], op['stride'], pad4, groups, op['bias'])
    if kind == 'norm':
        channels = op['in'][2]
        if op['kind'] == 'batch':
            return nn.BatchNorm2d(channels, eps=eps['batch'], momentum=0.1)
        return LayerNorm2d(channels, eps=eps['layer'])
    if kind == 'act':
        return nn.ReLU() if op['fn'] == 'relu' else nn.GELU(approximate='none')
    if kind == 'maxpool':
        return TfMaxPool2d(op['kernel'], op['stride'], same_pad4(op['in'], op['kernel'], op['stride']))
    if kind == 'residual':
        return Residual(op, eps)
    if kind == 'pool':
        return GlobalAvgPool()
    if kind == 'poolnorm':
        return nn.LayerNorm(op['in'][0], eps=eps['layer'])
    if kind == 'head':
        return nn.Linear(op['in'][0], op['units'])
    raise ToolError(f"plan op '{kind}' ({op['name']}) has no torch mapping.\n"
                    '  Fix: add it to build_op in tools/torch_reference.py, as src/lib/models/build.ts builds it.')


class PlanNet(nn.Module):
    """A plan as a network: (N, C, H, W) images -> (N, classes) logits."""

    def __init__(self, plan, eps):
        super().__init__()
        self.ops = nn.ModuleDict({op['name']: build_op(op, eps) for op in plan})

    def forward(self, x):
        for m in self.ops.values():
            x = m(x)
        return x


# Checks against the kit


def expected_shapes(plan):
    """{op name: per-image output shape in torch's layout}: [H, W, C] -> (C, H, W), [C] -> (C,)."""
    shapes = {}
    for op in plan:
        out = op['out']
        shapes[op['name']] = (out[2], out[0], out[1]) if len(out) == 3 else tuple(out)
        if op['op'] == 'residual':
            shapes.update(expected_shapes(op['body'] + op['shortcut'] + op['after']))
    return shapes


def check_shapes(model, plan, size, step):
    """Run one image through the model and compare every op's output with the plan's `out`."""
    expected = expected_shapes(plan)
    seen, wrong, hooks = set(), [], []
    for qualified, module in model.named_modules():
        name = qualified.rsplit('.', 1)[-1]
        if name not in expected:
            continue

        def hook(_module, _inputs, output, name=name):
            seen.add(name)
            if tuple(output.shape[1:]) != expected[name]:
                wrong.append(f'{name}: torch {tuple(output.shape[1:])}, plan {expected[name]}')

        hooks.append(module.register_forward_hook(hook))
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, IN_CHANNELS, size, size))
    for h in hooks:
        h.remove()
    missing = sorted(set(expected) - seen)
    if wrong or missing:
        raise ToolError(f'{step}: the torch network does not follow the kit\'s plan (shapes as (C, H, W)):\n  '
                        + '\n  '.join(wrong + [f'{n}: no torch module ran' for n in missing])
                        + '\n  Fix: the mapping in build_op (tools/torch_reference.py) against src/lib/models/build.ts.')


def params_by_layer(model):
    """{kit layer name: trainable parameters}: a parameter's owner module is named like the kit's layer."""
    counts = {}
    for qualified, p in model.named_parameters():
        if p.requires_grad:
            owner = qualified.rsplit('.', 2)[-2]
            counts[owner] = counts.get(owner, 0) + p.numel()
    return counts


def check_params(torch_counts, kit_counts, step):
    """Stop when the trainable parameters differ, in total or in any layer, naming the layers."""
    if torch_counts == kit_counts:
        return
    layers = sorted(set(torch_counts) | set(kit_counts))
    diff = [f'{n}: kit {kit_counts.get(n, 0)}, torch {torch_counts.get(n, 0)}'
            for n in layers if torch_counts.get(n, 0) != kit_counts.get(n, 0)]
    raise ToolError(f'{step}: trainable parameters differ: kit {sum(kit_counts.values())} (the model dist/ builds), '
                    f'torch {sum(torch_counts.values())}. Layers that differ:\n  ' + '\n  '.join(diff)
                    + '\n  Fix: the mapping in build_op (tools/torch_reference.py) against src/lib/models/build.ts, '
                    'or `npm run build` if src/ changed since dist/ was built.')


# Timing, as src/lib/bench/bench.ts


def adamw(model):
    """AdamW with the kit's defaults; like the kit, no weight decay on 1-D parameters (norms, biases, γ)."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    groups = [{'params': decay, 'weight_decay': WEIGHT_DECAY}, {'params': no_decay, 'weight_decay': 0.0}]
    return torch.optim.AdamW(groups, lr=LEARNING_RATE, betas=BETAS, eps=ADAM_EPS)


# Slowest / fastest timed step above this: warn. Torch's OpenMP threads spin on every core, so
# another busy process on the machine can make a step 10-40× slower (seen on 2 cores).
SPREAD_WARNING = 1.5


def median_ms(fn, iterations, what):
    for _ in range(WARMUP):
        fn()
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    if max(times) > SPREAD_WARNING * min(times):
        log(f'warning: {what} took {min(times):.0f} to {max(times):.0f} ms per step: is another process using the CPU?')
    return statistics.median(times)


def measure(model, size, batch, iterations, memory_format, step):
    """Train-step and forward throughput, as the kit's Throughput."""
    torch.manual_seed(0)
    x = torch.randn(batch, IN_CHANNELS, size, size).contiguous(memory_format=memory_format)  # (B, 1, S, S)
    y = torch.arange(batch) % 2  # (B,)
    optimizer = adamw(model)

    def train_step():
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        loss.item()  # the kit waits for the loss value

    def forward():
        with torch.no_grad():
            model(x).sum().item()  # as the kit, wait for the values

    model.train()
    train_ms = median_ms(train_step, iterations, f'{step} train')
    model.eval()
    forward_ms = median_ms(forward, iterations, f'{step} forward')
    return {'trainMs': train_ms, 'forwardMs': forward_ms,
            'trainImgPerSec': batch * 1000 / train_ms, 'forwardImgPerSec': batch * 1000 / forward_ms}


# Command line


MEMORY_FORMATS = {'channels_last': torch.channels_last, 'nchw': torch.contiguous_format}


def parse_args(argv):
    p = argparse.ArgumentParser(description='PyTorch CPU reference for `convnext-xray bench` (train and forward img/s per roadmap step).')
    p.add_argument('--steps', default='resnet,separate-downsampling', help='comma-separated roadmap steps (default: %(default)s)')
    p.add_argument('--size', type=int, default=64, help='input size in pixels (default %(default)s)')
    p.add_argument('--batch', type=int, default=32, help='batch size (default %(default)s)')
    p.add_argument('--scale', default='atto', help='paper | femto | atto | smoke (default %(default)s)')
    p.add_argument('--iterations', type=int, default=5, help='timed steps per measurement, median reported (default %(default)s)')
    p.add_argument('--threads', type=int, default=os.cpu_count(), help='torch threads (default: all cores, %(default)s)')
    p.add_argument('--memory-format', choices=sorted(MEMORY_FORMATS), default='channels_last',
                   help='torch memory layout (default %(default)s: NHWC in memory, measured faster here)')
    p.add_argument('--kit-backend', default='none',
                   help="also run the kit's bench on this backend: auto | tensorflow | webgpu | cpu (default none: torch only)")
    p.add_argument('--json', action='store_true', help='print the result as JSON')
    args = p.parse_args(argv)
    args.steps = [s.strip() for s in args.steps.split(',') if s.strip()]
    if args.iterations < 1:
        p.error(f'--iterations {args.iterations}: use at least 1')
    return args


def ratio(a, b):
    return a / b if b > 0 else float('nan')


def print_table(result):
    kit_ran = result['kitBackend'] is not None
    head = f"torch {result['torchVersion']} on {result['threads']} threads ({result['memoryFormat']}), {result['size']} px, batch {result['batch']}, scale {result['scale']}"
    if kit_ran:
        adapter = result['kitAdapter']
        head += f"; kit on {result['kitBackend']}{f' ({adapter})' if adapter else ''}"
    print(head)
    cols = ['step'.ljust(24), 'params kit'.rjust(12), 'torch'.rjust(12), 'torch train'.rjust(12)]
    if kit_ran:
        cols += ['kit train'.rjust(11), 'kit/torch'.rjust(10)]
    cols += ['torch fwd'.rjust(11)]
    if kit_ran:
        cols += ['kit fwd'.rjust(10), 'kit/torch'.rjust(10)]
    print(''.join(cols) + '   (img/s)')
    for r in result['rows']:
        t, k = r['torch'], r['kit']
        line = [r['step'].ljust(24), f"{r['params']['kit']:>12,}", f"{r['params']['torch']:>12,}", f"{t['trainImgPerSec']:>12.1f}"]
        if kit_ran:
            line += [f"{k['trainImgPerSec']:>11.1f}", f"{r['ratio']['train']:>10.3f}"]
        line += [f"{t['forwardImgPerSec']:>11.1f}"]
        if kit_ran:
            line += [f"{k['forwardImgPerSec']:>10.1f}", f"{r['ratio']['forward']:>10.3f}"]
        print(''.join(line))


def torch_row(entry, eps, args, memory_format):
    """One step in torch: built from the kit's plan, checked against the kit, then timed."""
    step = entry['step']
    torch.manual_seed(0)
    model = PlanNet(entry['plan'], eps).to(memory_format=memory_format)
    check_shapes(model, entry['plan'], args.size, step)
    counts = params_by_layer(model)
    check_params(counts, entry['params'], step)
    log(f'torch: {step} ({sum(counts.values()):,} parameters) ...')
    speed = measure(model, args.size, args.batch, args.iterations, memory_format, step)
    return {'step': step, 'params': {'kit': sum(entry['params'].values()), 'torch': sum(counts.values())},
            'torch': speed, 'kit': None, 'ratio': None}


def add_kit_bench(rows, bench):
    """Put the kit's bench numbers beside torch's; the model it timed must have the same parameters."""
    by_step = {r['step']: r for r in bench['rows']}
    for row in rows:
        kit_row = by_step[row['step']]
        if kit_row['params'] != row['params']['torch']:
            raise ToolError(f"{row['step']}: the kit's bench counted {kit_row['params']} parameters, torch {row['params']['torch']}.\n"
                            '  Fix: `npm run build` (dist/ may be older than src/), then rerun.')
        row['kit'] = kit_row['kit']
        row['ratio'] = {'train': ratio(kit_row['kit']['trainImgPerSec'], row['torch']['trainImgPerSec']),
                        'forward': ratio(kit_row['kit']['forwardImgPerSec'], row['torch']['forwardImgPerSec'])}


def run(args):
    torch.set_num_threads(args.threads)
    # Denormal floats (tiny gradients, AdamW moments) make x86 arithmetic ~100× slower: a run that
    # hits them measured 4 img/s instead of 300. TensorFlow flushes them to zero in its threads;
    # so does this, so both sides are measured as a performance-minded user would run them.
    torch.set_flush_denormal(True)
    memory_format = MEMORY_FORMATS[args.memory_format]
    kit = kit_plans(args.steps, args.size, args.scale)
    rows = [torch_row(entry, kit['eps'], args, memory_format) for entry in kit['rows']]
    result = {'torchVersion': torch.__version__, 'threads': torch.get_num_threads(), 'memoryFormat': args.memory_format,
              'size': args.size, 'batch': args.batch, 'scale': args.scale, 'iterations': args.iterations, 'warmup': WARMUP,
              'kitBackend': None, 'kitAdapter': None, 'rows': rows}
    if args.kit_backend != 'none':
        bench = run_kit_bench(args.kit_backend, args.steps, args.size, args.batch, args.scale, args.iterations)
        add_kit_bench(rows, bench)
        result.update(kitBackend=bench['backend'], kitAdapter=bench.get('adapter'))
    return result


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        result = run(args)
    except ToolError as e:
        print(f'torch_reference: {e}', file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)
    return 0


if __name__ == '__main__':
    sys.exit(main())
