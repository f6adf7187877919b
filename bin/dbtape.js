#!/usr/bin/env node
// The published entry point runs the compiled CLI; `npm ci` builds it through `prepare`.
import { main } from '../dist/cli/main.js';

main(process.argv).catch((err) => {
  process.stderr.write(`dbtape: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
