// Runs the standalone native core tests (native/test/core_test.cc: checksum
// vs a naive RFC 1071 sum, TTL decrement, codecs, and the table torture test
// with real threads and a forked read-only reader) so that CI runs them.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { it } from 'node:test';
import { buildCoreTest } from './core-exe';

it('builds the core test executable with -Wall -Wextra -Werror and every check in it passes', (t) => {
  const exe = buildCoreTest();
  const run = spawnSync(exe, [], { encoding: 'utf8', timeout: 10 * 60 * 1000 });
  for (const line of run.stdout.trim().split('\n')) t.diagnostic(line);
  assert.equal(run.stderr, '', 'no failed checks reported');
  assert.equal(run.status, 0);
  assert.match(run.stdout, /^core_test: PASS \d+ checks$/m);
  const torture = /torture: (\d+) updates .* (\d+) reads .* (\d+) violations/.exec(run.stdout);
  assert.ok(torture, 'the torture test ran');
  assert.ok(Number(torture[1]) >= 5_000_000);
  assert.ok(Number(torture[2]) >= 1_000_000);
  assert.equal(Number(torture[3]), 0);
});
