// Builds the standalone core test executable with native/test/build.sh and
// returns its path. SANITIZE=1 in the environment (test/asan.sh) builds the
// ASan/UBSan variant instead.

import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export const kRepoRoot = join(__dirname, '..', '..', '..');

let built: string | undefined;

export function buildCoreTest(): string {
  if (built) return built;
  const out = execFileSync('bash', [join(kRepoRoot, 'native', 'test', 'build.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const path = out.trim().split('\n').pop();
  if (!path) throw new Error('native/test/build.sh printed no executable path');
  built = path;
  return path;
}
