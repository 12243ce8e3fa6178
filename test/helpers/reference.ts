/** Float64 references for numeric tests (plain JavaScript numbers are float64). */
import assert from 'node:assert/strict';
import { erf as erf64 } from '../../src/lib/metrics/stats';

export { erf64 };

export function gelu64(x: number): number {
  return 0.5 * x * (1 + erf64(x / Math.SQRT2));
}

/** d/dx GELU = Φ(x) + x φ(x). */
export function geluGrad64(x: number): number {
  return 0.5 * (1 + erf64(x / Math.SQRT2)) + (x * Math.exp(-0.5 * x * x)) / Math.sqrt(2 * Math.PI);
}

/** Max-norm relative error: max|a - b| / max|b|. */
export function relError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} vs ${expected.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < expected.length; i++) {
    num = Math.max(num, Math.abs((actual[i] as number) - (expected[i] as number)));
    den = Math.max(den, Math.abs(expected[i] as number));
  }
  return den === 0 ? num : num / den;
}

/** Deterministic pseudo-random numbers in [-scale, scale) for test inputs. */
export function randomArray(n: number, seed: number, scale = 1): Float64Array {
  const out = new Float64Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = (((s >>> 0) / 4294967296) * 2 - 1) * scale;
  }
  return out;
}

/**
 * Decoded 8-bit pixels within `tolerance` grey levels of a reference decoder's, else a failure
 * naming the worst pixel (index, x, y) and both values.
 */
export function assertPixelsClose(name: string, got: Uint8Array, expected: Uint8Array, width: number, tolerance: number, oracle: string): void {
  let worst = 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const diff = Math.abs((got[i] as number) - (expected[i] as number));
    if (diff > worst) [worst, at] = [diff, i];
  }
  assert.ok(worst <= tolerance, `${name}: pixel ${at} (x ${at % width}, y ${Math.floor(at / width)}) is ${got[at]}, ${oracle} says ${expected[at]}`);
}
