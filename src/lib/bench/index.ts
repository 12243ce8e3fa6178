/** Training and inference throughput of roadmap steps on generated batches (`convnext-xray bench`). */
export { runBench } from './bench';
export type { BenchOptions, BenchResult, BenchRow, Throughput } from './bench';
