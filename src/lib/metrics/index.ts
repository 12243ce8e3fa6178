/** Pure math on scores and labels: ROC/PR, thresholds, calibration, bootstrap intervals, Welch's t. No tensors, no files. */
export { accuracy, averagePrecision, bootstrap, chooseThreshold, confusion, evaluateScores, pairedAucDifference, prCurve, quantile, reliability, rocAuc, rocCurve, thresholdMetrics } from './classification';
export type { Confusion, Interval, MetricName, ReliabilityBin, Report, ThresholdMetrics, ThresholdRule } from './classification';
export { mean, std, studentTQuantile, welchInterval } from './stats';
