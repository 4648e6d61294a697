// Embedded stores in temporary directories for unit tests, closed and removed
// after the file's tests.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { EmbeddedStore } from '../../../src/store/embedded-store';

const dirs: string[] = [];
const stores: EmbeddedStore[] = [];

after(async () => {
  for (const s of stores) await s.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A fresh store polling every 20 ms (watch tests stay quick). */
export function newStore(tag = 'store'): EmbeddedStore {
  const d = mkdtempSync(join(tmpdir(), `weft-${tag}-`));
  dirs.push(d);
  const s = new EmbeddedStore({ dataDir: d, pollIntervalMs: 20 });
  stores.push(s);
  return s;
}
