// The etcd v3 lease store: flannel's keys and JSON (store/keys.ts,
// store/lease-json.ts) so weft and flanneld nodes share one cluster.
//
// - Every put with a TTL grants a fresh etcd lease and attaches it, as
//   flannel's renewal does (the superseded lease just expires with no keys);
//   a put without TTL has no lease (a reservation).
// - acquireIfAbsent is the transaction `If(Version(key) == 0) Then(Put)`; a
//   lost race revokes the lease it granted.
// - watch() is a prefix watch on <prefix>/subnets/ from afterRevision + 1.
//   etcd3 reconnects it with backoff and resumes after the last revision it
//   saw; when that revision was compacted, etcd cancels the watch and we
//   re-list, emit 'resync', and watch again from the fresh revision.
// - Unary calls carry a deadline (callTimeoutMs); streams carry none and
//   rely on gRPC keep-alive pings (10 s, 5 s to answer) to notice a dead
//   connection, so a healthy watch stays open for as long as the agent runs.
// - Every failed call becomes a WeftError(STORE) naming the endpoints;
//   connection failures are marked recoverable.

import type { Etcd3, IKeyValue, IOptions, Watcher } from 'etcd3';
import { readFileSync } from 'node:fs';
import { ErrorCode, WeftError, invalidOption } from '../errors';
import type { Cidr } from '../net/cidr';
import { DEFAULT_PREFIX, configKey, parseSubnetKey, subnetKeyOfPath, subnetKeyPath, subnetsPrefix } from './keys';
import { type LeaseAttrs, decodeLeaseAttrs, encodeLeaseAttrs } from './lease-json';
import type { LeaseSnapshot, LeaseStore, StoreEvent, StoreWatch, StoredLease, WatchOptions } from './lease-store';

export interface EtcdStoreOptions {
  /** `http://127.0.0.1:2379,…` split already; flannel's `--etcd-endpoints`. */
  endpoints: string[];
  prefix?: string;
  /** TLS is used only when both keyFile and certFile are given (as flannel). */
  keyFile?: string;
  certFile?: string;
  caFile?: string;
  username?: string;
  password?: string;
  /** Deadline for each call, ms (default 5000). */
  callTimeoutMs?: number;
}

/** Is this error from the connection (worth retrying) rather than from the request? */
function isConnectionError(err: unknown): boolean {
  const name = (err as Error | undefined)?.constructor?.name ?? '';
  const msg = String((err as Error | undefined)?.message ?? '');
  return (
    /Unavailable|DeadlineExceeded|BrokenCircuit|IsolatedCircuit|Cancelled|ClientClosed|WatchStreamEnded/.test(name) ||
    /UNAVAILABLE|DEADLINE_EXCEEDED|ECONNREFUSED|No connection established|Deadline exceeded|breaker/i.test(msg)
  );
}

export class EtcdStore implements LeaseStore {
  readonly endpoints: readonly string[];
  readonly #client: Etcd3;
  readonly #prefix: string;
  readonly #timeout: number;
  readonly #watches = new Set<StoreWatch>();

  constructor(opts: EtcdStoreOptions) {
    if (!Array.isArray(opts.endpoints) || opts.endpoints.length === 0 || opts.endpoints.some((e) => typeof e !== 'string' || e === '')) {
      throw invalidOption('etcdEndpoints', 'a non-empty list of URLs', opts.endpoints);
    }
    this.endpoints = Object.freeze([...opts.endpoints]);
    this.#prefix = opts.prefix ?? DEFAULT_PREFIX;
    this.#timeout = opts.callTimeoutMs ?? 5000;
    const options: IOptions = {
      hosts: [...opts.endpoints],
      dialTimeout: this.#timeout,
      // A deadline on a stream (the watch, lease keep-alive) ends it when it
      // runs out: the watch was torn down and re-opened every 5 s. Only unary
      // calls get one; keep-alive pings detect a dead connection instead.
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + this.#timeout }),
      grpcOptions: {
        'grpc.keepalive_time_ms': 10_000,
        'grpc.keepalive_timeout_ms': 5000,
        'grpc.keepalive_permit_without_calls': 1,
      },
    };
    if (opts.keyFile && opts.certFile) {
      options.credentials = {
        rootCertificate: opts.caFile ? readTls('etcdCafile', opts.caFile) : (undefined as unknown as Buffer), // grpc uses system roots when absent
        privateKey: readTls('etcdKeyfile', opts.keyFile),
        certChain: readTls('etcdCertfile', opts.certFile),
      };
    }
    if (opts.username) options.auth = { username: opts.username, password: opts.password ?? '' };
    // etcd3 (and gRPC under it) is loaded here, when a store is opened, not
    // when 'weft' is required: a DataPlane-only embedder never pays for it.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { Etcd3: Client } = require('etcd3') as typeof import('etcd3');
    this.#client = new Client(options);
  }

  /** The underlying etcd3 client, for tools and tests that need raw access. */
  get client(): Etcd3 {
    return this.#client;
  }

  async #call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw this.#wrap(what, err);
    }
  }

  #wrap(what: string, err: unknown): WeftError {
    if (err instanceof WeftError) return err;
    const recoverable = isConnectionError(err);
    const where = this.endpoints.join(',');
    const message = recoverable
      ? `etcd at ${where} is unreachable (${what}): ${(err as Error).message}`
      : `etcd at ${where}: ${what} failed: ${(err as Error).message}`;
    return new WeftError(ErrorCode.STORE, message, { recoverable, cause: err });
  }

  async #grant(ttlSec: number): Promise<string> {
    const ttl = Math.max(1, Math.ceil(ttlSec)); // etcd TTLs are whole seconds
    const res = await this.#client.leaseClient.leaseGrant({ TTL: ttl, ID: 0 });
    return String(res.ID);
  }

  #toLease(kv: IKeyValue): StoredLease | undefined {
    const k = subnetKeyOfPath(this.#prefix, kv.key.toString());
    const parsed = k === undefined ? undefined : parseSubnetKey(k);
    if (!parsed) return undefined;
    let attrs: LeaseAttrs;
    try {
      attrs = decodeLeaseAttrs(kv.value);
    } catch {
      return undefined; // not a lease we can route to
    }
    return { subnet: parsed.subnet, attrs, reservation: String(kv.lease) === '0' };
  }

  async list(): Promise<LeaseSnapshot> {
    return this.#call('list leases', async () => {
      const res = await this.#client.getAll().prefix(subnetsPrefix(this.#prefix)).exec();
      const leases = res.kvs.map((kv) => this.#toLease(kv)).filter((l): l is StoredLease => l !== undefined);
      return { leases, revision: Number(res.header.revision) };
    });
  }

  async acquireIfAbsent(subnet: Cidr, attrs: LeaseAttrs, ttlSec: number | null): Promise<boolean> {
    const key = subnetKeyPath(this.#prefix, subnet);
    return this.#call(`create ${key}`, async () => {
      const lease = ttlSec === null ? undefined : await this.#grant(ttlSec);
      const put = this.#client.put(key).value(encodeLeaseAttrs(attrs));
      if (lease !== undefined) put.lease(lease);
      const res = await this.#client.if(key, 'Version', '==', 0).then(put).commit();
      if (!res.succeeded && lease !== undefined) {
        await this.#client.leaseClient.leaseRevoke({ ID: lease }).catch(() => undefined);
      }
      return res.succeeded;
    });
  }

  async put(subnet: Cidr, attrs: LeaseAttrs, ttlSec: number | null): Promise<void> {
    const key = subnetKeyPath(this.#prefix, subnet);
    await this.#call(`put ${key}`, async () => {
      const put = this.#client.put(key).value(encodeLeaseAttrs(attrs));
      if (ttlSec !== null) put.lease(await this.#grant(ttlSec));
      await put.exec();
    });
  }

  async delete(subnet: Cidr): Promise<void> {
    const key = subnetKeyPath(this.#prefix, subnet);
    await this.#call(`delete ${key}`, () => this.#client.delete().key(key).exec());
  }

  async getConfig(): Promise<string | undefined> {
    const key = configKey(this.#prefix);
    const value = await this.#call(`get ${key}`, () => this.#client.get(key).string());
    return value ?? undefined;
  }

  async putConfig(text: string): Promise<void> {
    const key = configKey(this.#prefix);
    await this.#call(`put ${key}`, () => this.#client.put(key).value(text).exec());
  }

  watch(afterRevision: number, onEvent: (event: StoreEvent) => void, opts: WatchOptions = {}): StoreWatch {
    let closed = false;
    let watcher: Watcher | undefined;
    let last = afterRevision;
    let backoff = 100;

    const open = (): void => {
      if (closed) return;
      const w = this.#client
        .watch()
        .prefix(subnetsPrefix(this.#prefix))
        .startRevision(String(last + 1))
        .watcher();
      watcher = w;
      w.on('connected', () => {
        backoff = 100;
        opts.onOpen?.();
      });
      w.on('put', (kv) => {
        const rev = Number(kv.mod_revision);
        if (closed || rev <= last) return;
        last = rev;
        const lease = this.#toLease(kv);
        if (lease) onEvent({ type: 'put', subnet: lease.subnet, lease, revision: rev });
      });
      w.on('delete', (kv) => {
        const rev = Number(kv.mod_revision);
        if (closed || rev <= last) return;
        last = rev;
        const k = subnetKeyOfPath(this.#prefix, kv.key.toString());
        const parsed = k === undefined ? undefined : parseSubnetKey(k);
        if (parsed) onEvent({ type: 'delete', subnet: parsed.subnet, revision: rev });
      });
      w.on('disconnected', (err: Error) => opts.onError?.(this.#wrap('watch', err)));
      // A cancelled watch (compaction, or the server dropping it): re-list and watch again.
      w.on('error', (err: Error) => {
        if (closed) return;
        opts.onError?.(this.#wrap('watch', err));
        void w.cancel().catch(() => undefined);
        void resync();
      });
    };

    const resync = async (): Promise<void> => {
      while (!closed) {
        try {
          const snap = await this.list();
          if (closed) return;
          last = snap.revision;
          onEvent({ type: 'resync', leases: snap.leases, revision: snap.revision });
          open();
          return;
        } catch (err) {
          opts.onError?.(err as Error);
          await new Promise((r) => setTimeout(r, backoff));
          backoff = Math.min(backoff * 2, 5000); // flannel: 100 ms → 5 s
        }
      }
    };

    open();
    const handle: StoreWatch = {
      close: async () => {
        closed = true;
        this.#watches.delete(handle);
        await watcher?.cancel().catch(() => undefined);
      },
    };
    this.#watches.add(handle);
    return handle;
  }

  async close(): Promise<void> {
    await Promise.all([...this.#watches].map((w) => w.close()));
    this.#client.close();
  }
}

function readTls(option: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new WeftError(ErrorCode.INVALID_OPTION, `${option} ${path} cannot be read: ${(err as Error).message}`, { option, cause: err });
  }
}
