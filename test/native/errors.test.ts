// Errors cross the native seam once: the addon throws WeftError with the
// stable codes of src/errors.ts itself (native/binding/errors.h), and the
// README's "Error codes" table lists exactly the codes src/errors.ts exports.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { BackendId, loadAddon } from '../../src/dataplane/native';
import { ErrorCode, WeftError } from '../../src/errors';
import { kRepoRoot } from './core-exe';

/** The `Code | Key | When` rows of README.md's "## Error codes" section. */
function readmeCodes(): { code: string; key: string }[] {
  const readme = readFileSync(join(kRepoRoot, 'README.md'), 'utf8');
  const start = readme.indexOf('\n## Error codes\n');
  assert.ok(start >= 0, 'README.md has an "## Error codes" section');
  const rest = readme.slice(start + 1);
  const end = rest.indexOf('\n## ', 1);
  const section = end < 0 ? rest : rest.slice(0, end);
  const rows: { code: string; key: string }[] = [];
  for (const line of section.split('\n')) {
    const m = /^\|\s*`(ERR_WEFT_[A-Z_]+)`\s*\|\s*`([A-Z_]+)`\s*\|/.exec(line);
    if (m) rows.push({ code: m[1]!, key: m[2]! });
  }
  return rows;
}

describe('error codes', () => {
  it('the README lists every code src/errors.ts exports, under its key, and no other', () => {
    const rows = readmeCodes();
    const listed = Object.fromEntries(rows.map((r) => [r.key, r.code]));
    assert.equal(rows.length, Object.keys(listed).length, 'no key listed twice');
    assert.deepEqual(listed, { ...ErrorCode });
  });

  it('every code the addon raises is one of src/errors.ts, and the README says which', () => {
    const { errorKinds } = loadAddon();
    assert.ok(errorKinds.length > 0);
    for (const k of errorKinds) assert.ok(k in ErrorCode, `ErrorCode.${k} exists`);
    const readme = readFileSync(join(kRepoRoot, 'README.md'), 'utf8');
    const said = /The addon raises ([^\n(]+)/.exec(readme.slice(readme.indexOf('## Error codes')));
    assert.ok(said, 'the README names the codes the addon raises');
    assert.deepEqual([...said[1]!.matchAll(/`([A-Z_]+)`/g)].map((m) => m[1]).sort(), [...errorKinds].sort());
  });

  it('refuses an ErrorCode table that lacks a code it raises', () => {
    const addon = loadAddon();
    const { TUN: _tun, ...partial } = ErrorCode;
    assert.throws(() => addon.configureErrors({ WeftError, ErrorCode: partial as typeof ErrorCode }), /ErrorCode\.TUN/);
  });

  it('native failures arrive as WeftError with code, sysCode, syscall and option', () => {
    const { NativeTable } = loadAddon();
    const dir = mkdtempSync('/dev/shm/weft-errors-test-');
    try {
      const geometry = { network: 0x0af40000, networkPrefixLen: 16, subnetLen: 24, backend: BackendId.vxlan };
      assert.throws(
        () => new NativeTable(join(dir, 'missing', 'deeper', '\0bad'), geometry),
        (e: unknown) => e instanceof WeftError && e.code === ErrorCode.TABLE && e.option === 'tablePath',
      );
      assert.throws(
        () => new NativeTable(join(dir, 'absent.table'), null),
        (e: unknown) =>
          e instanceof WeftError &&
          e.code === ErrorCode.TABLE &&
          e.sysCode === 'ENOENT' &&
          e.syscall === 'open' &&
          e.message.startsWith(`cannot read table ${join(dir, 'absent.table')}: `),
      );
      const t = new NativeTable(join(dir, 't.table'), { ...geometry, network: 0x0a000000, networkPrefixLen: 8 });
      // Prefixes other than SubnetLen go to the overflow area (1024 slots): the 1025th does not fit.
      const ip = Buffer.from([198, 18, 0, 1]);
      const mac = Buffer.from([2, 0, 0, 0, 0, 1]);
      for (let i = 0; i < 1024; i++) t.set((0x0b000000 + i * 2) >>> 0, 31, ip, mac, BackendId.vxlan);
      assert.throws(
        () => t.set(0x0c000000, 31, ip, mac, BackendId.vxlan),
        (e: unknown) =>
          e instanceof WeftError && e.code === ErrorCode.TABLE_FULL && e.sysCode === 'ENOSPC' && /^cannot set 12\.0\.0\.0\/31: /.test(e.message),
      );
      t.close();
      assert.throws(() => t.entries(), (e: unknown) => e instanceof WeftError && e.code === ErrorCode.CLOSED);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
