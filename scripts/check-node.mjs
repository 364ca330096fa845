#!/usr/bin/env node
// Runs before `npm test` and `npm run demo`: on a Node older than the one in
// package.json `engines`, say so plainly and stop, instead of letting vitest or
// tsx fail later with an unrelated error (`Map.groupBy is not a function`).
// Plain JavaScript with nothing newer than Node 14 can parse.
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const range = pkg.engines?.node ?? '';
const wanted = /^>=\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?$/.exec(range.trim());
if (!wanted) {
  console.error(`check-node: cannot read engines.node "${range}" in package.json (expected ">=X.Y")`);
  process.exit(1);
}
const need = [Number(wanted[1]), Number(wanted[2] || 0), Number(wanted[3] || 0)];
const have = process.versions.node.split('.').map(Number);
let older = false;
for (let i = 0; i < 3; i++) {
  if (have[i] !== need[i]) {
    older = have[i] < need[i];
    break;
  }
}
if (older) {
  console.error(
    `\n  ${pkg.name} needs Node.js ${need.join('.')} or newer (engines: "${range}"); this is Node.js ${process.versions.node} (${process.execPath}).\n` +
      `  Switch with \`nvm use\` (reads .nvmrc), or put a newer node first on PATH, then run the command again.\n`,
  );
  process.exit(1);
}
