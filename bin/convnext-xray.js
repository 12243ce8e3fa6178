#!/usr/bin/env node
'use strict';
// The CLI is compiled from src/cli by `npm run build` (npm start and npm test run it for you).
const path = require('node:path');
const fs = require('node:fs');
const main = path.join(__dirname, '..', 'dist', 'src', 'cli', 'main.js');
if (!fs.existsSync(main)) {
  process.stderr.write('convnext-xray: the kit is not built yet.\n  Fix: run `npm run build` (or `npm start`, which sets everything up) in the project folder.\n');
  process.exit(1);
}
// `convnext-xray stages | head` closes the pipe early: that is not an error.
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});
require(main).main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    if (err && err.name === 'KitError') {
      process.stderr.write(`convnext-xray: ${err.message}\n`);
      // An interrupt exits 130 (SIGINT) or 143 (SIGTERM), like a program killed by the signal.
      if (Number.isInteger(err.exitCode)) process.exit(err.exitCode);
    } else {
      // Not an error the kit raised on purpose: say so plainly; the stack trace only on request.
      const detail = process.env.KIT_DEBUG === '1' ? (err && err.stack) || String(err) : (err && err.message) || String(err);
      process.stderr.write(`convnext-xray: unexpected error: ${detail}\n  Fix: this is a bug in the kit or TensorFlow.js, not in your input; run again with KIT_DEBUG=1 for the stack trace and report it.\n`);
    }
    process.exit(1);
  },
);
