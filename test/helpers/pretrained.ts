import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir } from './data';

/** The committed PyTorch-made fixtures (tools/pretrained_reference.py). */
export const FIXTURES = path.resolve(__dirname, '..', '..', '..', 'test', 'fixtures', 'pretrained');

/** A fresh copy of a fixture folder, to edit. */
export function copyFixture(name: string, label: string): string {
  const dir = tempDir(`pretrained-${label}`);
  for (const f of fs.readdirSync(path.join(FIXTURES, name))) fs.copyFileSync(path.join(FIXTURES, name, f), path.join(dir, f));
  return dir;
}

/** Write float32 tensors as safetensors (the format's own rules: sorted names, contiguous data), for editing fixtures in tests. */
export function writeSafetensors(file: string, tensors: { name: string; shape: number[]; values: Float32Array }[], metadata?: Record<string, string>): void {
  const sorted = [...tensors].sort((a, b) => (a.name < b.name ? -1 : 1));
  const header: Record<string, unknown> = metadata === undefined ? {} : { __metadata__: metadata };
  let offset = 0;
  for (const t of sorted) {
    header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + 4 * t.values.length] };
    offset += 4 * t.values.length;
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(json.length));
  const data = Buffer.alloc(offset);
  let at = 0;
  for (const t of sorted) {
    for (const v of t.values) {
      data.writeFloatLE(v, at);
      at += 4;
    }
  }
  fs.writeFileSync(file, Buffer.concat([head, json, data]));
}
