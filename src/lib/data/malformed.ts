/**
 * The one error for a damaged data file, shared by the zip, .npy, .npz and MedMNIST readers:
 * it names the file and what is wrong, and the fix is always the same (fetch the file again, or
 * write it again with NumPy).
 */
import { KitError } from '../util/errors';

export const REDOWNLOAD_FIX =
  'delete the file and download it again (`npx convnext-xray data download`); ' +
  'if you wrote it yourself, save it again with numpy.savez or numpy.savez_compressed';

/** A KitError saying what is wrong with the file at `where`, with the re-download fix. */
export function malformed(problem: string, where: string): KitError {
  return new KitError(problem, { where, fix: REDOWNLOAD_FIX });
}
