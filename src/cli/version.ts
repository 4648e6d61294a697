// weft's version, from package.json (shared by `weft --version` and `weft run --version`).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export function version(): string {
  try {
    return (JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}
