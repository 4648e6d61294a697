// The shared-memory lease-to-VTEP table through the addon (NativeTable):
// writer: new NativeTable(path, geometry); reader: new NativeTable(path, null).

import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setImmediate as yieldLoop } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { BackendId, loadAddon, type NativeEntry, type NativeGeometry, type NativeTable } from '../../src/dataplane/native';
import { ErrorCode, WeftError } from '../../src/errors';
import { buildCoreTest } from './core-exe';
import { kTortureGeometry, kTortureKeys } from './table-writer';

const { NativeTable: Table } = loadAddon();
const kWriterScript = join(__dirname, 'table-writer.js');
let dir = '';
let seq = 0;
const tablePath = () => join(dir, `t${seq++}.table`);

before(() => {
  dir = mkdtempSync('/dev/shm/weft-table-test-');
});
after(() => rmSync(dir, { recursive: true, force: true }));

const mask = (len: number) => (len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0);
const ipBuf = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};
const vxlan16: NativeGeometry = { network: 0x0af40000, networkPrefixLen: 16, subnetLen: 24, backend: BackendId.vxlan };

interface Row { subnet: number; prefixLen: number; ip: number; mac: Buffer }

function set(t: NativeTable, r: Row): void {
  t.set(r.subnet, r.prefixLen, ipBuf(r.ip), r.mac, BackendId.vxlan);
}

function sameRow(e: NativeEntry | null, r: Row | undefined, where: string): void {
  if (!r) return assert.equal(e, null, where);
  assert.ok(e, where);
  assert.deepEqual(
    { subnet: e.subnet, prefixLen: e.prefixLen, ip: e.publicIp.readUInt32BE(0), mac: e.vtepMac, family: e.family, backend: e.backend },
    { subnet: r.subnet, prefixLen: r.prefixLen, ip: r.ip, mac: r.mac, family: 4, backend: BackendId.vxlan },
    where,
  );
}

/** The slow reference: longest prefix wins. */
function refLookup(rows: Map<string, Row>, dst: number): Row | undefined {
  let best: Row | undefined;
  for (const r of rows.values()) {
    if ((dst & mask(r.prefixLen)) >>> 0 === r.subnet && (!best || r.prefixLen > best.prefixLen)) best = r;
  }
  return best;
}

describe('lookup', () => {
  it('agrees with a slow longest-prefix reference over random sets and deletes, overflow prefixes included', () => {
    const arbOp = fc.record({
      kind: fc.constantFrom('set', 'set', 'set', 'delete'),
      direct: fc.boolean(),
      addr: fc.integer({ min: 0, max: 0xffffffff }),
      len: fc.integer({ min: 0, max: 32 }),
      ip: fc.integer({ min: 1, max: 0xffffffff }),
      mac: fc.uint8Array({ minLength: 6, maxLength: 6 }),
    });
    fc.assert(
      fc.property(fc.array(arbOp, { minLength: 1, maxLength: 300 }), fc.array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 200 }), (ops, probes) => {
        const t = new Table(tablePath(), vxlan16);
        try {
          const rows = new Map<string, Row>();
          for (const op of ops) {
            // Half the keys are direct /24s of 10.244/16; the rest any prefix anywhere (overflow).
            const prefixLen = op.direct ? 24 : op.len;
            const base = op.direct ? (0x0af40000 | (op.addr & 0xff00)) >>> 0 : op.addr;
            const subnet = (base & mask(prefixLen)) >>> 0;
            const key = `${subnet}/${prefixLen}`;
            if (op.kind === 'delete') {
              assert.equal(t.delete(subnet, prefixLen), rows.delete(key));
            } else {
              const r = { subnet, prefixLen, ip: op.ip, mac: Buffer.from(op.mac) };
              set(t, r);
              rows.set(key, r);
            }
          }
          assert.equal(t.header().entryCount, rows.size);
          assert.equal(t.entries().length, rows.size);
          // Probe random addresses, every entry's first and last address, and just outside it.
          const dsts = [...probes];
          for (const r of rows.values()) dsts.push(r.subnet, (r.subnet | ~mask(r.prefixLen)) >>> 0, (r.subnet - 1) >>> 0);
          for (const dst of dsts) sameRow(t.lookup(dst), refLookup(rows, dst), `dst ${dst.toString(16)}`);
        } finally {
          t.close();
        }
      }),
      { numRuns: 60 },
    );
  });

  it('refuses entries with host bits and reports a full overflow area as ENOSPC', () => {
    const t = new Table(tablePath(), vxlan16);
    assert.throws(() => t.set(0x0af40201, 24, ipBuf(1), null, BackendId.vxlan), { code: ErrorCode.TABLE, sysCode: 'EINVAL' });
    const slots = t.header().overflowSlots;
    for (let i = 0; i < slots; i++) t.set((0x0b000000 + i * 256) >>> 0, 24, ipBuf(i + 1), null, BackendId.vxlan);
    assert.throws(() => t.set(0x0c000000, 24, ipBuf(1), null, BackendId.vxlan), { code: ErrorCode.TABLE_FULL, sysCode: 'ENOSPC' });
    t.set(0x0af40500, 24, ipBuf(7), null, BackendId.vxlan); // direct slots are unaffected
    assert.equal(t.header().entryCount, slots + 1);
    t.close();
  });
});

describe('capacity and attachment', () => {
  it('holds every one of the 65,536 /24 leases of 10.0.0.0/8 and looks each one up', () => {
    const t = new Table(tablePath(), { network: 0x0a000000, networkPrefixLen: 8, subnetLen: 24, backend: BackendId.udp });
    for (let i = 0; i < 65536; i++) t.set((0x0a000000 | (i << 8)) >>> 0, 24, ipBuf(0xc6120000 + i), null, BackendId.udp);
    assert.equal(t.header().entryCount, 65536);
    for (let i = 0; i < 65536; i++) {
      const e = t.lookup((0x0a000000 | (i << 8) | (i & 0xff)) >>> 0);
      assert.ok(e && e.subnet === (0x0a000000 | (i << 8)) >>> 0 && e.publicIp.readUInt32BE(0) === 0xc6120000 + i, `lease ${i}`);
    }
    assert.equal(t.lookup(0x0b000000), null);
    assert.equal(t.entries().length, 65536);
    t.close();
  });

  it('keeps its entries when re-attached with the same geometry and resets when the geometry differs', () => {
    const path = tablePath();
    const rows: Row[] = [1, 2, 3].map((i) => ({ subnet: (0x0af40000 | (i << 8)) >>> 0, prefixLen: 24, ip: 0xc6120000 + i, mac: Buffer.from([2, 0, 0, 0, 0, i]) }));
    const w1 = new Table(path, vxlan16);
    assert.equal(w1.reattached(), false);
    rows.forEach((r) => set(w1, r));
    set(w1, { subnet: 0x0a000000, prefixLen: 8, ip: 9, mac: Buffer.from([2, 0, 0, 0, 0, 9]) });
    w1.close();
    const w2 = new Table(path, vxlan16);
    assert.equal(w2.reattached(), true);
    assert.equal(w2.header().entryCount, 4);
    rows.forEach((r) => sameRow(w2.lookup(r.subnet + 5), r, 'kept'));
    assert.equal(w2.isPeer(0xc6120002), true); // the peer index is rebuilt too
    w2.close();
    const w3 = new Table(path, { ...vxlan16, subnetLen: 25 });
    assert.equal(w3.reattached(), false);
    assert.equal(w3.header().entryCount, 0);
    assert.deepEqual(w3.entries(), []);
    assert.equal(w3.lookup(rows[0]!.subnet), null);
    w3.close();
    const w4 = new Table(path, { ...vxlan16, backend: BackendId.udp });
    assert.equal(w4.reattached(), false, 'a different backend is a different table');
    w4.close();
  });

  it('refuses a second writer while the first is open, and takes one after it closes', () => {
    const path = tablePath();
    const w1 = new Table(path, vxlan16);
    assert.throws(() => new Table(path, vxlan16), (err: Error & { code?: string; sysCode?: string; syscall?: string }) => {
      assert.ok(err instanceof WeftError);
      assert.equal(err.code, ErrorCode.TABLE);
      assert.equal(err.sysCode, 'EAGAIN'); // EWOULDBLOCK from flock
      assert.equal(err.syscall, 'flock');
      assert.match(err.message, /is in use by another weft process/);
      return true;
    });
    w1.close();
    const w2 = new Table(path, vxlan16);
    assert.equal(w2.reattached(), true);
    w2.close();
  });

  it('shows the writer entries to a reader in another process, which cannot write', () => {
    const path = tablePath();
    const w = new Table(path, vxlan16);
    set(w, { subnet: 0x0af40700, prefixLen: 24, ip: 0xc6120007, mac: Buffer.from('0e2a0af40700', 'hex') });
    set(w, { subnet: 0x0af40780, prefixLen: 25, ip: 0xc6120008, mac: Buffer.from('0e2a0af40780', 'hex') });
    const child = spawnSync(process.execPath, [kWriterScript, 'dump', path], { encoding: 'utf8' });
    assert.equal(child.status, 0, child.stderr);
    const seen = JSON.parse(child.stdout) as { subnet: number; prefixLen: number; publicIp: string; vtepMac: string }[];
    assert.deepEqual(
      seen.map((e) => [e.subnet, e.prefixLen, e.publicIp, e.vtepMac]).sort(),
      [[0x0af40700, 24, 'c6120007', '0e2a0af40700'], [0x0af40780, 25, 'c6120008', '0e2a0af40780']].sort(),
    );
    const r = new Table(path, null);
    assert.throws(() => r.set(0x0af40900, 24, ipBuf(1), null, BackendId.vxlan), /read-only/);
    assert.equal(r.lookup(0x0af40781)?.prefixLen, 25);
    r.close();
    w.close();
  });

  it('keeps the peer index in step with set, delete and replace', () => {
    const t = new Table(tablePath(), vxlan16);
    const p1 = 0xc6120001;
    const p2 = 0xc6120002;
    assert.equal(t.isPeer(p1), false);
    t.set(0x0af40100, 24, ipBuf(p1), null, BackendId.vxlan);
    t.set(0x0af40200, 24, ipBuf(p1), null, BackendId.vxlan); // two leases on one node
    assert.equal(t.isPeer(p1), true);
    assert.equal(t.delete(0x0af40100, 24), true);
    assert.equal(t.isPeer(p1), true, 'still used by 10.244.2.0/24');
    t.set(0x0af40200, 24, ipBuf(p2), null, BackendId.vxlan); // the lease moves to another node
    assert.equal(t.isPeer(p1), false);
    assert.equal(t.isPeer(p2), true);
    t.set(0x0af40200, 24, ipBuf(p2), null, BackendId.vxlan); // same value again
    assert.equal(t.isPeer(p2), true);
    assert.equal(t.delete(0x0af40200, 24), true);
    assert.equal(t.delete(0x0af40200, 24), false);
    assert.equal(t.isPeer(p2), false);
    t.close();
  });
});

/** The torture invariant (table-writer.ts): publicIp c, vtepMac 02:<len>:<~c>, and the entry covers dst. */
function tortureOk(e: NativeEntry, dst: number): boolean {
  const c = e.publicIp.readUInt32BE(0);
  const m = e.vtepMac;
  return (
    e.family === 4 && e.backend === BackendId.vxlan && c !== 0 && m !== undefined && m.length === 6 && m[0] === 2 &&
    m[1] === e.prefixLen && m.readUInt32BE(2) === ~c >>> 0 && (dst & mask(e.prefixLen)) >>> 0 === e.subnet
  );
}

function lines(child: ChildProcessWithoutNullStreams): AsyncIterator<string> {
  return createInterface({ input: child.stdout })[Symbol.asyncIterator]();
}

describe('concurrency', () => {
  it('never shows a torn entry to readers in other processes while a writer process rewrites entries millions of times', async (t) => {
    const exe = buildCoreTest();
    const path = tablePath();
    const kWrites = 3_000_000;
    const writer = spawn(process.execPath, [kWriterScript, 'torture', path, String(kWrites)]);
    const writerOut = lines(writer);
    assert.deepEqual(JSON.parse((await writerOut.next()).value as string), { ready: true });
    const reader = spawn(exe, ['--reader', path]);
    const readerOut = lines(reader);
    assert.deepEqual(JSON.parse((await readerOut.next()).value as string), { ready: true });
    const mine = new Table(path, null);
    assert.equal(mine.header().entryCount, kTortureKeys.length);
    const writerExit = once(writer, 'exit');
    let running = true;
    void writerExit.then(() => (running = false));
    writer.stdin.write('go\n');
    // This process reads too: tight lookup loops, yielding now and then so the writer's exit is seen.
    let reads = 0;
    let hits = 0;
    let violations = 0;
    let x = 1;
    while (running) {
      for (let i = 0; i < 20000; i++) {
        x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
        const dst = (kTortureGeometry.network | (x >>> 16)) >>> 0;
        const e = mine.lookup(dst);
        reads++;
        if (e) {
          hits++;
          if (!tortureOk(e, dst)) violations++;
        }
      }
      await yieldLoop();
    }
    const [code] = await writerExit;
    assert.equal(code, 0);
    const done = JSON.parse((await writerOut.next()).value as string) as { writes: number; ms: number };
    reader.kill('SIGTERM');
    const stats = JSON.parse((await readerOut.next()).value as string) as { reads: number; hits: number; violations: number; generation: number };
    await once(reader, 'exit');
    mine.close();
    t.diagnostic(`writer process: ${done.writes} updates in ${done.ms} ms`);
    t.diagnostic(`C++ reader process: ${stats.reads} reads, ${stats.hits} hits, ${stats.violations} violations`);
    t.diagnostic(`Node reader (this process): ${reads} reads, ${hits} hits, ${violations} violations`);
    assert.equal(done.writes, kWrites);
    assert.equal(stats.violations, 0);
    assert.equal(violations, 0);
    assert.ok(stats.reads >= 1_000_000 && stats.hits >= 100_000, 'the C++ reader read a lot, concurrently');
    assert.ok(hits >= 10_000, 'this process read entries concurrently');
    assert.ok(stats.generation >= kWrites, 'the reader saw the final generation');
  });
});
