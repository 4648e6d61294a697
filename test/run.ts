// Runs every test file under dist/test (compiled from test/**/*.test.ts) with
// node:test and the spec reporter, one file at a time: the end-to-end files
// build network namespaces and move real traffic, and a 2-core machine gives
// truer results when they do not overlap. `node dist/test/run.js unit` runs
// only files whose path contains "unit".

import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { run } from 'node:test';
import { spec } from 'node:test/reporters';

function findTests(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...findTests(path));
    else if (name.endsWith('.test.js')) out.push(path);
  }
  return out;
}

const filters = process.argv.slice(2);
const files = findTests(__dirname).filter((f) => filters.length === 0 || filters.some((x) => relative(__dirname, f).includes(x)));
if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}

const stream = run({ files, concurrency: 1, timeout: 15 * 60 * 1000 });
stream.on('test:fail', () => {
  process.exitCode = 1;
});
stream.compose(new spec()).pipe(process.stdout);
