import * as path from 'node:path';
import { selectBackend } from '../../lib/backend';
import { loadClassifier, predictFiles } from '../../lib/eval/inference';
import { KitError } from '../../lib/util/errors';
import { defineCommand, print, printJson } from '../command';

export const predictCommand = defineCommand({
  name: 'predict',
  summary: 'class probabilities for X-ray images, with exactly the training preprocessing',
  options: {
    checkpoint: { kind: 'string', help: 'a run folder (runs/<id>/<step>/<seed>) or its best/ folder' },
    json: { kind: 'boolean', help: 'print JSON' },
  },
  run: async (files, o) => {
    if (o.checkpoint === undefined) throw new KitError('predict needs --checkpoint', { fix: 'e.g. --checkpoint runs/cpu/separate-downsampling/0' });
    if (files.length === 0) throw new KitError('predict needs at least one image file', { fix: 'e.g. npx convnext-xray predict chest.jpeg --checkpoint runs/cpu/separate-downsampling/0' });
    await selectBackend();
    const clf = await loadClassifier(path.resolve(o.checkpoint));
    if (clf.meta.init?.newHead != null && clf.meta.epoch === 0) {
      process.stderr.write(`note: ${clf.dir} is imported pretrained weights whose ${clf.classes.length}-class head was never trained: its probabilities mean nothing yet (fine-tune it with \`train --step convnext --init ${clf.meta.init.source}\`)\n`);
    }
    const predictions = await predictFiles(clf, files.map((f) => path.resolve(f)));
    clf.model.dispose();
    if (o.json) printJson({ checkpoint: clf.dir, input: clf.input, predictions });
    else for (const p of predictions) print(`${p.file}: ${p.predicted}  (${Object.entries(p.probabilities).map(([c, v]) => `P(${c}) ${v.toFixed(4)}`).join(', ')})`);
    return 0;
  },
});
