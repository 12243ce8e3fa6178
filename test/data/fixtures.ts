/**
 * Helpers for the tests of the zip, .npy, .npz and MedMNIST readers. Their fixtures are written
 * by real NumPy: test/fixtures/make_npz.py. Expected values in the tests restate the formulas in
 * that script.
 */
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { projectRoot } from '../../src/lib/config/paths';
import { KitError } from '../../src/lib/util/errors';

export function fixture(name: string): string {
  return path.join(projectRoot(), 'test', 'fixtures', name);
}

/** Assert that fn throws a KitError whose message matches every pattern. */
export function throwsKit(fn: () => unknown, ...patterns: RegExp[]): KitError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof KitError, `expected a KitError, got ${String(caught)}`);
  for (const p of patterns) assert.match(caught.message, p);
  return caught;
}

/** Flat pixel i of a fixture image array is (7*i + offset) % 256. */
export function expectedImages(count: number, offset: number): Uint8Array {
  return Uint8Array.from({ length: count }, (_, i) => (7 * i + offset) % 256);
}
