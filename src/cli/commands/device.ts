import { formatDeviceReport, parseBackendName, selectBackend } from '../../lib/backend';
import { defineCommand, print, printJson } from '../command';

export const deviceCommand = defineCommand({
  name: 'device',
  summary: 'which backend and adapter will run the math (the kit\'s nvidia-smi)',
  options: {
    json: { kind: 'boolean', help: 'print JSON' },
    backend: { kind: 'string', help: 'auto | tensorflow | webgpu | cpu (default: KIT_BACKEND or auto)' },
  },
  run: async (_, o) => {
    const report = await selectBackend({ backend: o.backend === undefined ? undefined : parseBackendName(o.backend) });
    if (o.json) printJson(report);
    else print(formatDeviceReport(report));
    return 0;
  },
});
