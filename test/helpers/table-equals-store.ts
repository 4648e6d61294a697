// "The table equals the store": waits until a node's live table (read with
// `weft table --json`) holds exactly the given subnets, and says what is
// missing or extra when it does not. Shared by the soak tests (embedded and
// etcd) and the etcd cluster tests.

import assert from 'node:assert/strict';
import type { DataPlaneStats } from '../../src/dataplane/stats';
import type { Node } from './weft-cluster';
import { weftCli } from './weft-agent';

/** The subnets in the node's table now. */
export function tableSubnets(n: Node): Set<string> {
  const r = weftCli(n.ns, ['table', '--json']);
  assert.equal(r.code, 0, r.stderr);
  return new Set((JSON.parse(r.stdout) as DataPlaneStats).entries.map((e) => e.subnet));
}

export interface TableDiff {
  missing: string[];
  extra: string[];
}

export function tableDiff(have: ReadonlySet<string>, want: ReadonlySet<string>): TableDiff {
  return { missing: [...want].filter((s) => !have.has(s)), extra: [...have].filter((s) => !want.has(s)) };
}

/**
 * Waits until the table of `n` is exactly `want` (the store's subnets other
 * than the node's own, computed by the caller); resolves with the time it
 * took, ms. On timeout, fails naming (up to 5 of) the missing and extra subnets.
 */
export async function untilTableEqualsStore(n: Node, want: Iterable<string>, ms = 20_000): Promise<number> {
  const w = new Set(want);
  const t0 = Date.now();
  let d: TableDiff = { missing: [...w], extra: [] };
  for (;;) {
    d = tableDiff(tableSubnets(n), w);
    if (d.missing.length === 0 && d.extra.length === 0) return Date.now() - t0;
    if (Date.now() - t0 > ms) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(
    `the table of ${n.ip} is not the store's ${w.size} subnets after ${ms} ms: ` +
      `${d.missing.length} missing (${d.missing.slice(0, 5).join(' ')}), ${d.extra.length} extra (${d.extra.slice(0, 5).join(' ')})`,
  );
}
