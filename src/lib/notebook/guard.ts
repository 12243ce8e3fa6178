import { dataSourceProblem } from '../data/dataset';

/** The tag at the start of the error `requireData` throws, so a test or a reader can find it. */
export const NO_DATA_TAG = '[kit: no data]';

/**
 * Stop the notebook here, once, when its X-rays cannot be loaded (data/dataset.ts
 * `dataSourceProblem`, which downloads nothing). A thrown error stops Run All in JupyterLab and
 * nbconvert, so an offline first run shows this one message with the ways out, instead of a
 * download error followed by "Cannot find name 'data'" in every later cell.
 */
export async function requireData(): Promise<void> {
  const problem = await dataSourceProblem();
  if (problem === undefined) return;
  const err = new Error(`${NO_DATA_TAG} This notebook needs the chest X-rays and stops here.\n${problem}`);
  err.name = 'NoDataError';
  // The stack would only point into the kit; the message says everything.
  err.stack = `${err.name}: ${err.message}`;
  throw err;
}
