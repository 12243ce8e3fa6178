import * as fs from 'node:fs';
import { loadSettings } from '../config/settings';
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

/**
 * The pretrained weights of the notebooks' fine-tuning sections (the KIT_PRETRAINED setting), or
 * undefined after saying how to get them: the section's cells then skip themselves, so a run
 * without weights (CI, an offline classroom) goes on to the end. Nothing is downloaded here.
 */
export function pretrainedWeights(): string | undefined {
  const dir = loadSettings().pretrained;
  if (dir !== undefined && fs.existsSync(dir)) return dir;
  const lines = [
    dir === undefined ? 'No pretrained weights: KIT_PRETRAINED is not set, so this section is skipped.' : `KIT_PRETRAINED is ${dir}, which does not exist, so this section is skipped.`,
    'To run it, download ImageNet weights once (online), set KIT_PRETRAINED to the folder the',
    'command prints, and restart the kernel (e.g. KIT_PRETRAINED=<folder> npm start):',
    '  npx convnext-xray weights download convnext_atto.d2_in1k',
    '      timm, 3.7 M parameters: for the default and smoke profiles',
    '  npx convnext-xray weights download facebook/convnext-tiny-224',
    '      HuggingFace ConvNeXt-T, 28.6 M: for the finetune profile (224 px, a GPU)',
    "Offline: put config.json and model.safetensors from the model's hub page in one folder.",
  ];
  console.log(lines.join('\n'));
  return undefined;
}
