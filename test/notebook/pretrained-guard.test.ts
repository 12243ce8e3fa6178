import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { pretrainedWeights } from '../../src/lib/notebook/guard';
import { FIXTURES } from '../helpers/pretrained';

function withEnv<T>(value: string | undefined, run: () => T): T {
  const before = process.env.KIT_PRETRAINED;
  if (value === undefined) delete process.env.KIT_PRETRAINED;
  else process.env.KIT_PRETRAINED = value;
  try {
    return run();
  } finally {
    if (before === undefined) delete process.env.KIT_PRETRAINED;
    else process.env.KIT_PRETRAINED = before;
  }
}

test('pretrainedWeights(): the KIT_PRETRAINED folder when it exists; otherwise undefined, after saying how to get weights (nothing downloaded)', (t) => {
  const log = t.mock.method(console, 'log', () => undefined);
  const folder = path.join(FIXTURES, 'timm-a');
  assert.equal(withEnv(folder, pretrainedWeights), folder);
  assert.equal(log.mock.callCount(), 0, 'a usable folder is used silently');
  assert.equal(withEnv(undefined, pretrainedWeights), undefined);
  const unset = String(log.mock.calls[0]?.arguments[0]);
  assert.match(unset, /KIT_PRETRAINED is not set, so this section is skipped/);
  assert.match(unset, /npx convnext-xray weights download convnext_atto\.d2_in1k/);
  assert.ok(unset.split('\n').every((l) => l.length <= 92), `lines short enough for a notebook output:\n${unset}`);
  assert.equal(withEnv(path.join(folder, 'nope'), pretrainedWeights), undefined);
  assert.match(String(log.mock.calls[1]?.arguments[0]), /KIT_PRETRAINED is .*nope, which does not exist/);
});
