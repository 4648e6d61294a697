// Runs the libFuzzer harness (native/fuzz/run.sh: clang, ASan + UBSan) for a
// bounded time, as CI must: the committed regression inputs pass, the run
// finds nothing, and it really executed inputs and reached coverage.
// FUZZ_SECONDS overrides the 45 s budget.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { it } from 'node:test';
import { kRepoRoot } from './core-exe';

const kSeconds = Number(process.env.FUZZ_SECONDS ?? 45);

it(`fuzzes the decapsulation, coalescing and encapsulation paths for ${kSeconds} s without a finding`, (t) => {
  // The fuzzer carries clang's own sanitizer runtime: a gcc libasan preloaded
  // into this process (test/asan.sh) must not be inherited by it.
  const { LD_PRELOAD: _preload, ...env } = process.env;
  const run = spawnSync('bash', [join(kRepoRoot, 'native', 'fuzz', 'run.sh')], {
    encoding: 'utf8',
    env: { ...env, FUZZ_SECONDS: String(kSeconds) },
    timeout: (kSeconds + 240) * 1000,
    maxBuffer: 64 * 1024 * 1024,
  });
  const out = `${run.stdout}\n${run.stderr}`;
  if (run.status === 3) assert.fail(`fuzzer not built: ${run.stderr.trim()} (.ci/install-system-packages installs clang and libclang-rt-14-dev)`);
  const done = /#(\d+)\s+DONE\s+cov: (\d+) ft: (\d+) corp: (\d+)/.exec(out);
  const execs = /stat::number_of_executed_units: (\d+)/.exec(out);
  const seeds = /(\d+) seeds from /.exec(out);
  t.diagnostic(`seeds ${seeds?.[1]}, executions ${execs?.[1]}, cov ${done?.[2]}, ft ${done?.[3]}, corpus ${done?.[4]}`);
  assert.equal(run.status, 0, `run.sh failed:\n${out.split('\n').slice(-60).join('\n')}`);
  assert.match(out, /regressions: \d+ inputs pass/);
  assert.ok(seeds && Number(seeds[1]) > 100, 'a seed corpus was extracted from the fixture captures');
  assert.ok(execs && Number(execs[1]) > 100_000, 'the fuzzer executed at least 100k inputs');
  assert.ok(done && Number(done[2]) > 100, 'coverage was reached beyond the entry point');
  assert.match(out, /fuzz: done, nothing found/);
});
