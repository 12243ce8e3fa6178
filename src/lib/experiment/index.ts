/** The ablation as an experiment: profiles, steps × seeds runs, their report, evaluation like a radiology paper, figures and the HTML page. */
export { getProfile, HF_FINETUNE, PROFILE_NAMES, PROFILES } from './profiles';
export type { Profile, ProfileName } from './profiles';
export { ablationId, parseShard, planRuns, predictionsOf, recipeOf, runAblation, runOne, shardRuns, trainOrLoad } from './ablation';
export type { AblationOptions, AblationOutcome } from './ablation';
export { ablationReport, describeDeltas, finetuneRows, formatMeanStd, reportRows, rowName, runRows } from './report';
export type { AblationReport, Aggregate, Delta, StepReport } from './report';
export { evaluateAblation, evaluatePredictions, evaluateRun, pretrainedComparison, readPredictions, savePredictions } from './evaluate';
export type { Evaluation, EvaluationOptions, Predictions, SplitPredictions, StepEvaluation } from './evaluate';
export { PUBLISHED } from './published';
export type { PublishedResult } from './published';
export { ablationHtmlPage, testMetricRows } from './html-report';
export { clinicalSummary, comparisonRows, worstMistakes } from './summary';
export type { Mistake } from './summary';
export { mistakeGallery } from './gallery';
export { allCurvesFigure, deltaFigure, finetuneFigure, stepMetricsFigure } from './figures';
