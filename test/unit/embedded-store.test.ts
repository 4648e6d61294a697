import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { ErrorCode, WeftError } from '../../src/errors';
import { formatCidr, parseCidr } from '../../src/net/cidr';
import { EmbeddedStore } from '../../src/store/embedded-store';
import { encodeLeaseAttrs, leaseAttrsFor } from '../../src/store/lease-json';
import type { StoreEvent } from '../../src/store/lease-store';

const cidr = (s: string) => parseCidr(s, { strict: true })!;
const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'weft-store-'));
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Waits until `pred` holds, polling; fails after `ms`. */
async function until(pred: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Runs N race children from one start signal and returns their JSON answers. */
async function race(args: string[][]): Promise<Array<Record<string, unknown>>> {
  const script = join(__dirname, 'helpers', 'race-child.js');
  const children = args.map((a) => spawn(process.execPath, [script, ...a], { stdio: ['pipe', 'pipe', 'pipe'] }));
  const outputs = children.map(
    (c) =>
      new Promise<Record<string, unknown>>((resolve, reject) => {
        let out = '';
        let err = '';
        c.stdout.on('data', (d: Buffer) => (out += d.toString()));
        c.stderr.on('data', (d: Buffer) => (err += d.toString()));
        c.on('exit', (code) =>
          code === 0 ? resolve(JSON.parse(out) as Record<string, unknown>) : reject(new Error(`child exited ${code}: ${err}`)),
        );
      }),
  );
  await new Promise((r) => setTimeout(r, 300)); // let every child load and wait on stdin
  for (const c of children) c.stdin.end('go\n');
  return Promise.all(outputs);
}

describe('embedded store', () => {
  it('stores leases with flannel keys and JSON and lists them with a growing revision', async () => {
    const store = new EmbeddedStore({ dataDir: tempDir() });
    try {
      const r0 = (await store.list()).revision;
      const attrs = leaseAttrsFor('vxlan', '198.18.0.1', { vni: 1, vtepMac: '0e:2a:0a:f4:01:00' });
      assert.equal(await store.acquireIfAbsent(cidr('10.244.1.0/24'), attrs, 60), true);
      assert.equal(await store.acquireIfAbsent(cidr('10.244.1.0/24'), leaseAttrsFor('udp', '198.18.0.9'), 60), false);
      const snap = await store.list();
      assert.ok(snap.revision > r0);
      assert.equal(snap.leases.length, 1);
      assert.equal(formatCidr(snap.leases[0]!.subnet), '10.244.1.0/24');
      assert.equal(encodeLeaseAttrs(snap.leases[0]!.attrs), encodeLeaseAttrs(attrs));
      assert.equal(snap.leases[0]!.reservation, false);
      await store.putConfig('{"Network":"10.244.0.0/16"}');
      assert.equal(await store.getConfig(), '{"Network":"10.244.0.0/16"}');
      assert.equal((await store.list()).leases.length, 1, 'the config key is not a lease');
    } finally {
      await store.close();
    }
  });

  it('expires a lease after its TTL, deleting it and emitting a delete event', async () => {
    const store = new EmbeddedStore({ dataDir: tempDir(), pollIntervalMs: 50 });
    const events: StoreEvent[] = [];
    const watch = store.watch((await store.list()).revision, (e) => events.push(e));
    try {
      await store.put(cidr('10.244.2.0/24'), leaseAttrsFor('udp', '198.18.0.2'), 0.3);
      await store.put(cidr('10.244.3.0/24'), leaseAttrsFor('udp', '198.18.0.3'), null);
      await until(() => events.some((e) => e.type === 'delete'));
      assert.deepEqual(
        events.map((e) => [e.type, e.type === 'resync' ? '' : formatCidr(e.subnet)]),
        [
          ['put', '10.244.2.0/24'],
          ['put', '10.244.3.0/24'],
          ['delete', '10.244.2.0/24'],
        ],
      );
      const snap = await store.list();
      assert.deepEqual(
        snap.leases.map((l) => [formatCidr(l.subnet), l.reservation]),
        [['10.244.3.0/24', true]],
      );
      assert.ok(
        events.every((e, i) => i === 0 || e.revision > events[i - 1]!.revision),
        'revisions increase',
      );
    } finally {
      await watch.close();
      await store.close();
    }
  });

  it('keeps a reservation without TTL through later puts that keep it TTL-less', async () => {
    const dataDir = tempDir();
    const store = new EmbeddedStore({ dataDir });
    try {
      await store.put(cidr('10.244.7.0/24'), leaseAttrsFor('udp', '198.18.0.7'), null);
      await store.put(cidr('10.244.7.0/24'), leaseAttrsFor('udp', '198.18.0.7'), null);
      await new Promise((r) => setTimeout(r, 200));
      const [lease] = (await store.list()).leases;
      assert.equal(lease?.reservation, true);
      assert.equal(lease?.expiresAt, undefined);
    } finally {
      await store.close();
    }
  });

  it('delivers watch events from a revision, across two store handles on one data dir', async () => {
    const dataDir = tempDir();
    const a = new EmbeddedStore({ dataDir });
    const b = new EmbeddedStore({ dataDir });
    const events: StoreEvent[] = [];
    try {
      await a.put(cidr('10.244.1.0/24'), leaseAttrsFor('udp', '198.18.0.1'), 60);
      const rev = (await b.list()).revision;
      const watch = b.watch(rev, (e) => events.push(e));
      await a.put(cidr('10.244.2.0/24'), leaseAttrsFor('udp', '198.18.0.2'), 60);
      await a.delete(cidr('10.244.1.0/24'));
      await a.delete(cidr('10.244.1.0/24')); // already gone: no event
      await until(() => events.length >= 2);
      await new Promise((r) => setTimeout(r, 250));
      await watch.close();
      assert.deepEqual(
        events.map((e) => [e.type, e.type === 'resync' ? '' : formatCidr(e.subnet)]),
        [
          ['put', '10.244.2.0/24'],
          ['delete', '10.244.1.0/24'],
        ],
      );
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('sends a resync snapshot to a watcher whose revision was compacted away', async () => {
    const store = new EmbeddedStore({ dataDir: tempDir() });
    const events: StoreEvent[] = [];
    try {
      await store.put(cidr('10.244.1.0/24'), leaseAttrsFor('udp', '198.18.0.1'), 60);
      const rev = (await store.list()).revision;
      await store.put(cidr('10.244.2.0/24'), leaseAttrsFor('udp', '198.18.0.2'), 60);
      store.compact(rev + 1);
      const watch = store.watch(rev, (e) => events.push(e));
      await until(() => events.length > 0);
      await watch.close();
      const first = events[0]!;
      assert.equal(first.type, 'resync');
      assert.deepEqual(first.type === 'resync' && first.leases.map((l) => formatCidr(l.subnet)), ['10.244.1.0/24', '10.244.2.0/24']);
    } finally {
      await store.close();
    }
  });

  it('refuses a corrupted database with an error naming the file', () => {
    const dataDir = tempDir();
    writeFileSync(join(dataDir, 'weft.db'), Buffer.alloc(4096, 0x41));
    assert.throws(
      () => new EmbeddedStore({ dataDir }),
      (err: unknown) =>
        err instanceof WeftError && err.code === ErrorCode.STORE && /weft\.db is corrupted or not a weft database/.test(err.message),
    );
  });

  it('reports a database held locked by another connection as a recoverable error naming the file', async () => {
    const dataDir = tempDir();
    const store = new EmbeddedStore({ dataDir, busyTimeoutMs: 100 });
    const other = new Database(join(dataDir, 'weft.db'));
    other.exec('BEGIN EXCLUSIVE');
    try {
      await assert.rejects(store.put(cidr('10.244.1.0/24'), leaseAttrsFor('udp', '198.18.0.1'), 60), (err: unknown) => {
        assert.ok(err instanceof WeftError && err.code === ErrorCode.STORE && err.recoverable);
        assert.match(err.message, /weft\.db is locked: another process held it for more than 100 ms/);
        return true;
      });
    } finally {
      other.exec('ROLLBACK');
      other.close();
      await store.close();
    }
  });

  it('lets exactly one of 6 processes create the same key', async () => {
    const dataDir = tempDir();
    new EmbeddedStore({ dataDir }).close(); // create the schema once, as the first agent would
    const answers = await race(Array.from({ length: 6 }, () => ['acquire', dataDir, '10.244.9.0/24']));
    assert.equal(answers.filter((a) => a.won === true).length, 1, JSON.stringify(answers));
  });

  it('gives the last free subnet to exactly one of 4 racing lease managers; the others are out of subnets', async () => {
    const dataDir = tempDir();
    // A /28 network with SubnetLen 30: subnets .4 .8 .12 are allocatable; two are taken.
    const config = '{"Network":"10.9.0.0/28","SubnetLen":30}';
    const store = new EmbeddedStore({ dataDir });
    await store.put(cidr('10.9.0.4/30'), leaseAttrsFor('udp', '198.18.1.4'), 60);
    await store.put(cidr('10.9.0.8/30'), leaseAttrsFor('udp', '198.18.1.8'), 60);
    await store.close();
    const answers = await race([1, 2, 3, 4].map((i) => ['lease', dataDir, `198.18.0.${i}`, config]));
    const winners = answers.filter((a) => a.subnet !== undefined);
    assert.deepEqual(
      winners.map((w) => w.subnet),
      ['10.9.0.12/30'],
      JSON.stringify(answers),
    );
    for (const a of answers.filter((x) => x.subnet === undefined)) {
      assert.deepEqual(a, { error: 'out of subnets', code: ErrorCode.OUT_OF_SUBNETS });
    }
  });
});
