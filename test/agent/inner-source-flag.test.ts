// --check-inner-source reaches the agent's data plane options (the data
// plane's checkInnerSource is tested end to end in test/e2e/peers.test.ts).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveAgentOptions } from '../../src/agent/agent-options';
import { parseFlags } from '../../src/cli/flags';
import { Logger } from '../../src/cli/logger';
import { RUN_FLAGS, agentOptionsFromFlags } from '../../src/cli/run-command';

const options = (argv: string[], env: NodeJS.ProcessEnv = {}) =>
  agentOptionsFromFlags(parseFlags(RUN_FLAGS, argv, env).values, new Logger('error'));

test('--check-inner-source (or FLANNELD_CHECK_INNER_SOURCE) turns the inner-source check on; off by default', () => {
  assert.equal(options(['--check-inner-source']).checkInnerSource, true);
  assert.equal(options(['-check-inner-source=false']).checkInnerSource, false);
  assert.equal(options([], { FLANNELD_CHECK_INNER_SOURCE: 'true' }).checkInnerSource, true);
  assert.equal(options([]).checkInnerSource, false);
  assert.equal(resolveAgentOptions(options(['--check-inner-source'])).checkInnerSource, true);
  assert.equal(resolveAgentOptions({}).checkInnerSource, false);
});
