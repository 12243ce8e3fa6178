import * as path from 'node:path';
import { ablationHtmlPage } from '../../lib/experiment/html-report';
import { ablationReport, AblationReport, reportRows } from '../../lib/experiment/report';
import { writeHtml } from '../../lib/plot/html';
import { tableText } from '../../lib/plot/table';
import { ablationDir } from '../../lib/runs';
import { KitError } from '../../lib/util/errors';
import { defineCommand, print, printJson } from '../command';
import { resolveRunsDir } from '../common';

export const reportCommand = defineCommand({
  name: 'report',
  summary: 'per step: mean ± std over seeds of val/test accuracy and AUC, deltas with 95% intervals',
  options: {
    json: { kind: 'boolean', help: 'print JSON' },
    html: { kind: 'string', help: 'also write a standalone interactive HTML report to this file' },
    'runs-dir': { kind: 'string', help: 'take the argument as an ablation id in this folder (report smoke --runs-dir runs); without it, as a folder' },
  },
  run: async (positional, o) => {
    const arg = positional[0];
    if (arg === undefined) {
      throw new KitError('report needs the ablation folder', { fix: o['runs-dir'] === undefined ? 'e.g. npx convnext-xray report runs/smoke' : `e.g. npx convnext-xray report smoke --runs-dir ${o['runs-dir']}` });
    }
    const dir = o['runs-dir'] === undefined ? path.resolve(arg) : ablationDir(resolveRunsDir(o['runs-dir']), ablationIdArg(arg, o['runs-dir']));
    const report = ablationReport(dir);
    if (o.html !== undefined) {
      writeHtml(path.resolve(o.html), ablationHtmlPage(dir));
      process.stderr.write(`wrote ${path.resolve(o.html)}\n`);
    }
    if (!o.json) return printReport(report);
    // The per-epoch curves are for plots; the JSON report keeps the per-step statistics.
    printJson({ ...report, curves: undefined });
    return 0;
  },
});

/** With --runs-dir, the argument names one ablation in it: one plain folder name. */
function ablationIdArg(arg: string, runsDir: string): string {
  if (arg === '' || arg === '.' || arg === '..' || arg !== path.basename(arg)) {
    throw new KitError(`with --runs-dir, the argument is an ablation id (a folder name in ${runsDir}), got "${arg}"`, {
      fix: `e.g. npx convnext-xray report smoke --runs-dir ${runsDir}, or drop --runs-dir and give the folder: report ${arg}`,
    });
  }
  return arg;
}

function printReport(r: AblationReport): number {
  print(`ablation ${r.id} (${r.profile ?? '?'}), ${r.runs} finished runs, backend ${r.backend.join(', ')}`);
  const rows = reportRows(r);
  const right = Object.fromEntries(Object.keys(rows[0] ?? {}).filter((k) => k !== 'step').map((k) => [k, 'right' as const]));
  print(tableText(rows, { align: right }));
  print('* : the 95% interval of the delta excludes 0 (beyond seed noise); without it, the change is within seed noise');
  return 0;
}
