// The embedded lease store (`--data-dir`): one SQLite database in WAL mode,
// shared by every agent on the machine that points at the same directory.
//
// Layout (schema version 1):
//   meta(name, value)     'revision' (last revision handed out), 'compacted'
//                         (events at or below it are gone), 'schema'
//   kv(key, value, expires_at, mod_revision)
//                         the live keys, flannel's key layout (store/keys.ts);
//                         expires_at is ms since the epoch, NULL = no TTL
//   events(revision, key, type, value, expires_at)
//                         one row per change, for watchers; pruned to
//                         `historyLimit` rows
//
// Invariants:
// - Every write runs in a BEGIN IMMEDIATE transaction, so writers from any
//   process serialize on SQLite's lock; busy_timeout makes them wait instead
//   of failing. The revision is bumped inside that transaction, so revisions
//   are unique and increase in commit order.
// - Expired keys are swept (deleted, with a delete event) at the start of each
//   write and by every watcher's poll, so expiry is seen within one poll
//   interval even when nobody writes. Reads filter expired rows out, so a
//   stale key is never returned.

import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, WeftError, invalidOption } from '../errors';
import { DEFAULT_PREFIX, configKey, parseSubnetKey, subnetKeyOfPath, subnetKeyPath } from './keys';
import { type LeaseAttrs, decodeLeaseAttrs, encodeLeaseAttrs } from './lease-json';
import {
  type LeaseRef,
  type LeaseSnapshot,
  type LeaseStore,
  type StoreEvent,
  type StoreWatch,
  type StoredLease,
  type WatchOptions,
  leaseSubnets,
} from './lease-store';

export interface EmbeddedStoreOptions {
  /** Directory holding `weft.db` (created 0755 if missing). */
  dataDir: string;
  /** Key prefix; flannel's default. */
  prefix?: string;
  /** How often watchers poll for changes and expiry, in ms (1..200, default 100). */
  pollIntervalMs?: number;
  /** How long a writer waits for another process's lock, in ms (default 5000). */
  busyTimeoutMs?: number;
  /** Events kept for watchers to replay (default 10000); older ones force a resync. */
  historyLimit?: number;
  /** Clock in ms since the epoch (tests). */
  now?: () => number;
}

interface KvRow {
  key: string;
  value: string;
  expires_at: number | null;
}
interface EventRow extends KvRow {
  revision: number;
  type: 'put' | 'delete';
}

export const EMBEDDED_DB_FILE = 'weft.db';
const kSchemaVersion = 1;

export class EmbeddedStore implements LeaseStore {
  readonly path: string;
  readonly #db: Database.Database;
  readonly #prefix: string;
  readonly #poll: number;
  readonly #busy: number;
  readonly #history: number;
  readonly #now: () => number;
  readonly #watches = new Set<() => void>();
  #closed = false;

  constructor(opts: EmbeddedStoreOptions) {
    if (typeof opts.dataDir !== 'string' || opts.dataDir === '') throw invalidOption('dataDir', 'a directory path', opts.dataDir);
    const poll = opts.pollIntervalMs ?? 100;
    if (!Number.isInteger(poll) || poll < 1 || poll > 200) throw invalidOption('pollIntervalMs', 'an integer 1..200', poll);
    this.#poll = poll;
    this.#busy = opts.busyTimeoutMs ?? 5000;
    this.#history = opts.historyLimit ?? 10000;
    this.#prefix = opts.prefix ?? DEFAULT_PREFIX;
    this.#now = opts.now ?? Date.now;
    this.path = join(opts.dataDir, EMBEDDED_DB_FILE);
    try {
      mkdirSync(opts.dataDir, { recursive: true, mode: 0o755 });
    } catch (err) {
      throw new WeftError(ErrorCode.STORE, `cannot create data dir ${opts.dataDir}: ${(err as Error).message}`, {
        option: 'dataDir',
        sysCode: (err as NodeJS.ErrnoException).code ?? 'EIO',
        cause: err,
      });
    }
    this.#db = this.#guard(() => new Database(this.path, { timeout: this.#busy }));
    try {
      this.#guard(() => this.#init());
    } catch (err) {
      // A failed open (locked, corrupted) leaves no handle behind: the caller may retry.
      this.#db.close();
      throw err;
    }
  }

  #init(): void {
    const db = this.#db;
    // WAL lets readers run beside the one writer; NORMAL sync is durable across process crashes.
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    // An existing database needs no write to open: readers work while another
    // process holds the write lock (in WAL mode), so only writes wait for it.
    const existing = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'`).get() !== undefined;
    if (!existing)
      db.transaction(() => {
        db.exec(`
        CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL,
          expires_at INTEGER, mod_revision INTEGER NOT NULL);
        CREATE INDEX IF NOT EXISTS kv_expiry ON kv(expires_at) WHERE expires_at IS NOT NULL;
        CREATE TABLE IF NOT EXISTS events (revision INTEGER PRIMARY KEY, key TEXT NOT NULL,
          type TEXT NOT NULL CHECK (type IN ('put', 'delete')), value TEXT, expires_at INTEGER);
        INSERT OR IGNORE INTO meta VALUES ('revision', 0), ('compacted', 0), ('schema', ${kSchemaVersion});
      `);
      }).immediate();
    const schema = (db.prepare(`SELECT value FROM meta WHERE name = 'schema'`).get() as { value: number } | undefined)?.value;
    if (schema !== kSchemaVersion) {
      throw new WeftError(ErrorCode.STORE, `embedded store ${this.path} has schema version ${schema}, this weft reads ${kSchemaVersion}`);
    }
  }

  /** Runs fn, turning SQLite failures into WeftErrors that name the database and what to do. */
  #guard<T>(fn: () => T): T {
    if (this.#closed) throw new WeftError(ErrorCode.CLOSED, `embedded store ${this.path} is closed`);
    try {
      return fn();
    } catch (err) {
      if (err instanceof WeftError) throw err;
      const code = (err as { code?: string }).code ?? '';
      const msg = (err as Error).message;
      if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
        throw new WeftError(
          ErrorCode.STORE,
          `embedded store ${this.path} is locked: another process held it for more than ${this.#busy} ms (${msg})`,
          {
            recoverable: true,
            sysCode: code,
            cause: err,
          },
        );
      }
      if (code.startsWith('SQLITE_NOTADB') || code.startsWith('SQLITE_CORRUPT')) {
        throw new WeftError(
          ErrorCode.STORE,
          `embedded store ${this.path} is corrupted or not a weft database (${msg}); move it aside to start with an empty store`,
          {
            sysCode: code,
            cause: err,
          },
        );
      }
      throw new WeftError(ErrorCode.STORE, `embedded store ${this.path}: ${msg}`, { sysCode: code || 'EIO', cause: err });
    }
  }

  #write<T>(fn: (now: number) => T): T {
    return this.#guard(() =>
      this.#db
        .transaction(() => {
          const now = this.#now();
          this.#sweep(now);
          return fn(now);
        })
        .immediate(),
    );
  }

  #nextRevision(): number {
    return (this.#db.prepare(`UPDATE meta SET value = value + 1 WHERE name = 'revision' RETURNING value`).get() as { value: number }).value;
  }

  #record(key: string, type: 'put' | 'delete', value: string | null, expiresAt: number | null): number {
    const rev = this.#nextRevision();
    this.#db.prepare(`INSERT INTO events VALUES (?, ?, ?, ?, ?)`).run(rev, key, type, value, expiresAt);
    if (rev % 64 === 0 && rev > this.#history) {
      const floor = rev - this.#history;
      this.#db.prepare(`DELETE FROM events WHERE revision <= ?`).run(floor);
      this.#db.prepare(`UPDATE meta SET value = max(value, ?) WHERE name = 'compacted'`).run(floor);
    }
    return rev;
  }

  /** Deletes expired keys, recording a delete event for each. Call inside a write transaction. */
  #sweep(now: number): void {
    const expired = this.#db.prepare(`SELECT key FROM kv WHERE expires_at IS NOT NULL AND expires_at <= ?`).all(now) as { key: string }[];
    for (const { key } of expired) {
      this.#db.prepare(`DELETE FROM kv WHERE key = ?`).run(key);
      this.#record(key, 'delete', null, null);
    }
  }

  #hasExpired(): boolean {
    return this.#db.prepare(`SELECT 1 FROM kv WHERE expires_at IS NOT NULL AND expires_at <= ? LIMIT 1`).get(this.#now()) !== undefined;
  }

  #putKey(key: string, value: string, ttlSec: number | null, now: number): void {
    const expiresAt = ttlSec === null ? null : now + Math.round(ttlSec * 1000);
    const rev = this.#record(key, 'put', value, expiresAt);
    this.#db.prepare(`INSERT OR REPLACE INTO kv VALUES (?, ?, ?, ?)`).run(key, value, expiresAt, rev);
  }

  #toLease(row: KvRow): StoredLease | undefined {
    const k = subnetKeyOfPath(this.#prefix, row.key);
    const parsed = k === undefined ? undefined : parseSubnetKey(k);
    if (!parsed) return undefined;
    let attrs: LeaseAttrs;
    try {
      attrs = decodeLeaseAttrs(row.value);
    } catch {
      return undefined; // a foreign or garbled value is not a lease we can route to
    }
    return row.expires_at === null
      ? { ...parsed, attrs, reservation: true }
      : { ...parsed, attrs, reservation: false, expiresAt: row.expires_at };
  }

  async list(): Promise<LeaseSnapshot> {
    return this.#snapshot();
  }

  #snapshot(): LeaseSnapshot {
    if (this.#guard(() => this.#hasExpired())) this.#write(() => undefined);
    return this.#guard(() =>
      this.#db.transaction(() => {
        const revision = (this.#db.prepare(`SELECT value FROM meta WHERE name = 'revision'`).get() as { value: number }).value;
        const rows = this.#db
          .prepare(
            `SELECT key, value, expires_at FROM kv WHERE key >= ? AND key < ? AND (expires_at IS NULL OR expires_at > ?) ORDER BY key`,
          )
          .all(`${this.#prefix}/subnets/`, `${this.#prefix}/subnets0`, this.#now()) as KvRow[];
        const leases = rows.map((r) => this.#toLease(r)).filter((l): l is StoredLease => l !== undefined);
        return { leases, revision };
      })(),
    );
  }

  #keyOf(ref: LeaseRef): string {
    const s = leaseSubnets(ref);
    return subnetKeyPath(this.#prefix, s.subnet, s.ipv6Subnet);
  }

  async acquireIfAbsent(subnet: LeaseRef, attrs: LeaseAttrs, ttlSec: number | null): Promise<boolean> {
    checkTtl(ttlSec);
    const key = this.#keyOf(subnet);
    const value = encodeLeaseAttrs(attrs);
    return this.#write((now) => {
      if (this.#db.prepare(`SELECT 1 FROM kv WHERE key = ?`).get(key) !== undefined) return false;
      this.#putKey(key, value, ttlSec, now);
      return true;
    });
  }

  async put(subnet: LeaseRef, attrs: LeaseAttrs, ttlSec: number | null): Promise<void> {
    checkTtl(ttlSec);
    const key = this.#keyOf(subnet);
    const value = encodeLeaseAttrs(attrs);
    this.#write((now) => this.#putKey(key, value, ttlSec, now));
  }

  async delete(subnet: LeaseRef): Promise<void> {
    const key = this.#keyOf(subnet);
    this.#write(() => {
      if (this.#db.prepare(`DELETE FROM kv WHERE key = ?`).run(key).changes > 0) this.#record(key, 'delete', null, null);
    });
  }

  async getConfig(): Promise<string | undefined> {
    const row = this.#guard(() => this.#db.prepare(`SELECT value FROM kv WHERE key = ?`).get(configKey(this.#prefix))) as
      { value: string } | undefined;
    return row?.value;
  }

  async putConfig(text: string): Promise<void> {
    this.#write((now) => this.#putKey(configKey(this.#prefix), text, null, now));
  }

  /** Drops event history up to `revision` (what etcd's compaction does); watchers behind it resync. */
  compact(revision: number): void {
    this.#write(() => {
      this.#db.prepare(`DELETE FROM events WHERE revision <= ?`).run(revision);
      this.#db.prepare(`UPDATE meta SET value = max(value, ?) WHERE name = 'compacted'`).run(revision);
    });
  }

  watch(afterRevision: number, onEvent: (event: StoreEvent) => void, opts: WatchOptions = {}): StoreWatch {
    let last = afterRevision;
    let stopped = false;
    const tick = (): void => {
      if (stopped || this.#closed) return;
      try {
        if (this.#hasExpired()) this.#write(() => undefined);
        const { compacted, rows } = this.#db.transaction(() => ({
          compacted: (this.#db.prepare(`SELECT value FROM meta WHERE name = 'compacted'`).get() as { value: number }).value,
          rows: this.#db.prepare(`SELECT * FROM events WHERE revision > ? ORDER BY revision LIMIT 5000`).all(last) as EventRow[],
        }))();
        if (last < compacted) {
          const snap = this.#snapshot();
          last = snap.revision;
          onEvent({ type: 'resync', leases: snap.leases, revision: snap.revision });
          return;
        }
        for (const row of rows) {
          if (stopped) return;
          last = row.revision;
          const event = this.#toEvent(row);
          if (event) onEvent(event);
        }
      } catch (err) {
        opts.onError?.(err as Error);
      }
    };
    const timer = setInterval(tick, this.#poll);
    const stop = (): void => {
      stopped = true;
      clearInterval(timer);
      this.#watches.delete(stop);
    };
    this.#watches.add(stop);
    setImmediate(tick);
    return { close: async () => stop() };
  }

  #toEvent(row: EventRow): StoreEvent | undefined {
    const k = subnetKeyOfPath(this.#prefix, row.key);
    const parsed = k === undefined ? undefined : parseSubnetKey(k);
    if (!parsed) return undefined;
    if (row.type === 'delete') return { type: 'delete', ...parsed, revision: row.revision };
    const lease = this.#toLease(row);
    return lease && { type: 'put', ...parsed, lease, revision: row.revision };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    for (const stop of [...this.#watches]) stop();
    this.#closed = true;
    this.#db.close();
  }
}

function checkTtl(ttlSec: number | null): void {
  if (ttlSec !== null && !(Number.isFinite(ttlSec) && ttlSec > 0))
    throw invalidOption('ttlSec', 'a positive number of seconds or null', ttlSec);
}
