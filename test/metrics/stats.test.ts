import assert from 'node:assert/strict';
import { test } from 'node:test';
import { erf, incompleteBeta, lnGamma, mean, std, studentTCdf, studentTQuantile, welchInterval } from '../../src/lib/metrics/stats';

test('Student t quantiles match published tables', () => {
  // t(0.975) for df 1, 2, 4, 10, 30 and the normal limit.
  const table: [number, number][] = [[1, 12.7062], [2, 4.3027], [4, 2.7764], [10, 2.2281], [30, 2.0423], [Infinity, 1.96]];
  for (const [df, t] of table) assert.ok(Math.abs(studentTQuantile(0.975, df) - t) < 1e-4, `df ${df}: ${studentTQuantile(0.975, df)}`);
  assert.ok(Math.abs(studentTCdf(0, 5) - 0.5) < 1e-12);
});

test('incomplete beta and lnGamma against closed forms', () => {
  assert.ok(Math.abs(lnGamma(5) - Math.log(24)) < 1e-12);
  assert.ok(Math.abs(lnGamma(0.5) - Math.log(Math.sqrt(Math.PI))) < 1e-12);
  // I_x(1, 1) = x; I_x(2, 1) = x².
  assert.ok(Math.abs(incompleteBeta(0.3, 1, 1) - 0.3) < 1e-12);
  assert.ok(Math.abs(incompleteBeta(0.3, 2, 1) - 0.09) < 1e-12);
});

test('welchInterval(): hand-computed case and degenerate inputs', () => {
  // a = [1,2,3], b = [4,5,6]: diff 3, se = √(1/3 + 1/3), df 4, t = 2.7764.
  const w = welchInterval([1, 2, 3], [4, 5, 6]);
  const half = 2.776445 * Math.sqrt(2 / 3);
  assert.ok(Math.abs(w.diff - 3) < 1e-12 && Math.abs(w.df - 4) < 1e-9);
  assert.ok(Math.abs(w.lo - (3 - half)) < 1e-5 && Math.abs(w.hi - (3 + half)) < 1e-5);
  assert.ok(Number.isNaN(welchInterval([1], [2, 3]).lo), 'one seed: no interval');
  assert.equal(mean([1, 2, 3]), 2);
  assert.equal(std([2, 4, 4, 4, 5, 5, 7, 9]), Math.sqrt(32 / 7));
});

test('erf() matches published values to 1e-14 (the float64 reference of the GELU tests)', () => {
  const table: [number, number][] = [[0.5, 0.5204998778130465], [1, 0.8427007929497149], [2, 0.9953222650189527], [3.5, 0.9999992569016276], [-1, -0.8427007929497149]];
  for (const [x, v] of table) assert.ok(Math.abs(erf(x) - v) < 1e-14, `erf(${x}) = ${erf(x)}`);
});
