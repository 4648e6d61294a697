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
// - Every call carries etcd's require-leader metadata (`hasleader: true`, as
//   clientv3.WithRequireLeader): a member cut off from its cluster still
//   answers but is stale; with it, the member cancels our watch once it has
//   no leader (and refuses unary calls at once), so the client moves to
//   another endpoint instead of waiting, silently, on one that will never
//   send an event. A watch that breaks resumes after the last event we
//   applied (or the last progress notification), not after the last header
//   etcd3 saw.
// - Every failed call becomes a WeftError(STORE) naming the endpoints;
//   connection failures are marked recoverable. A TLS failure (wrong CA,
//   certificate refused, not a TLS server) is a configuration error: one
//   line saying which, not recoverable, so startup fails instead of retrying.

import type { Etcd3, IKeyValue, IOptions, Watcher } from 'etcd3';
import type { Interceptor } from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ErrorCode, WeftError, invalidOption } from '../errors';
import { DEFAULT_PREFIX, configKey, parseSubnetKey, subnetKeyOfPath, subnetKeyPath, subnetsPrefix } from './keys';
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

/** What went wrong in a TLS handshake, in words, or undefined when the error is not a TLS one. */
export function describeTlsFailure(message: string, opts: { caFile?: string } = {}): string | undefined {
  const m = message;
  const detail = (re: RegExp): string => re.exec(m)?.[0] ?? '';
  let re: RegExp;
  if (
    (re =
      /unable to verify the first certificate|self[- ]signed certificate(?: in certificate chain)?|unable to get (?:local )?issuer certificate|certificate signature failure|UNABLE_TO_VERIFY_LEAF_SIGNATURE|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN/i).test(
      m,
    )
  )
    return `TLS handshake failed: certificate verification failed: the server's certificate is not signed by ${
      opts.caFile ? `the CA in --etcd-cafile ${opts.caFile}` : 'a CA this system trusts (no --etcd-cafile given)'
    } (${detail(re)})`;
  if ((re = /certificate has expired|certificate is not yet valid|CERT_HAS_EXPIRED|CERT_NOT_YET_VALID/i).test(m))
    return `TLS handshake failed: certificate verification failed: ${detail(re)}`;
  if ((re = /does not match certificate's altnames|ERR_TLS_CERT_ALTNAME_INVALID/i).test(m))
    return `TLS handshake failed: certificate verification failed: the server's certificate does not name this endpoint (${detail(re)})`;
  if ((re = /alert (?:bad certificate|unknown ca|certificate required|certificate unknown|access denied|handshake failure)/i).test(m))
    return `TLS handshake failed: the server refused the client certificate (--etcd-certfile/--etcd-keyfile): ${detail(re)}`;
  if ((re = /wrong version number|packet length too long|http request/i).test(m))
    return `TLS handshake failed: the endpoint does not speak TLS (an http:// server?): ${detail(re)}`;
  return undefined;
}

/** Adds etcd's require-leader metadata to every call (see the top of the file). */
function requireLeader(): Interceptor {
  // @grpc/grpc-js is the copy etcd3 itself loads (a dependency of etcd3, not of weft).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const grpc = require(require.resolve('@grpc/grpc-js', { paths: [dirname(require.resolve('etcd3'))] })) as typeof import('@grpc/grpc-js');
  return (options, nextCall) =>
    new grpc.InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        const md = metadata.clone(); // etcd3 shares one (auth) metadata object between calls
        md.set('hasleader', 'true');
        next(md, listener);
      },
    });
}

/** etcd3's watch reconnect backoff (IBackoff): 100 ms doubling to 5 s, as flannel. */
class WatchBackoff {
  constructor(readonly duration = 100) {}
  next(): WatchBackoff {
    return new WatchBackoff(Math.min(this.duration * 2, 5000));
  }
}

export class EtcdStore implements LeaseStore {
  readonly endpoints: readonly string[];
  readonly #client: Etcd3;
  readonly #prefix: string;
  readonly #timeout: number;
  readonly #caFile: string | undefined;
  readonly #watches = new Set<StoreWatch>();

  constructor(opts: EtcdStoreOptions) {
    if (!Array.isArray(opts.endpoints) || opts.endpoints.length === 0 || opts.endpoints.some((e) => typeof e !== 'string' || e === '')) {
      throw invalidOption('etcdEndpoints', 'a non-empty list of URLs', opts.endpoints);
    }
    this.endpoints = Object.freeze([...opts.endpoints]);
    this.#prefix = opts.prefix ?? DEFAULT_PREFIX;
    this.#timeout = opts.callTimeoutMs ?? 5000;
    this.#caFile = opts.keyFile && opts.certFile ? opts.caFile : undefined;
    const interceptors = [requireLeader()];
    const options: IOptions = {
      hosts: [...opts.endpoints],
      dialTimeout: this.#timeout,
      // A deadline on a stream (the watch, lease keep-alive) ends it when it
      // runs out: the watch was torn down and re-opened every 5 s. Only unary
      // calls get one; keep-alive pings detect a dead connection instead.
      defaultCallOptions: (ctx) => (ctx.isStream ? { interceptors } : { interceptors, deadline: Date.now() + this.#timeout }),
      // etcd3's default (up to 30 s with jitter) would leave a watch down for
      // long after a member dropped it; each reconnect picks a random member.
      faultHandling: { watchBackoff: new WatchBackoff() },
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
    const where = this.endpoints.join(',');
    const tls = describeTlsFailure(String((err as Error | undefined)?.message ?? ''), this.#caFile ? { caFile: this.#caFile } : {});
    if (tls) return new WeftError(ErrorCode.STORE, `etcd at ${where}: ${tls}`, { recoverable: false, cause: err });
    const recoverable = isConnectionError(err);
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
    return { ...parsed, attrs, reservation: String(kv.lease) === '0' };
  }

  async list(): Promise<LeaseSnapshot> {
    return this.#call('list leases', async () => {
      const res = await this.#client.getAll().prefix(subnetsPrefix(this.#prefix)).exec();
      const leases = res.kvs.map((kv) => this.#toLease(kv)).filter((l): l is StoredLease => l !== undefined);
      return { leases, revision: Number(res.header.revision) };
    });
  }

  #keyOf(ref: LeaseRef): string {
    const s = leaseSubnets(ref);
    return subnetKeyPath(this.#prefix, s.subnet, s.ipv6Subnet);
  }

  async acquireIfAbsent(subnet: LeaseRef, attrs: LeaseAttrs, ttlSec: number | null): Promise<boolean> {
    const key = this.#keyOf(subnet);
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

  async put(subnet: LeaseRef, attrs: LeaseAttrs, ttlSec: number | null): Promise<void> {
    const key = this.#keyOf(subnet);
    await this.#call(`put ${key}`, async () => {
      const put = this.#client.put(key).value(encodeLeaseAttrs(attrs));
      if (ttlSec !== null) put.lease(await this.#grant(ttlSec));
      await put.exec();
    });
  }

  async delete(subnet: LeaseRef): Promise<void> {
    const key = this.#keyOf(subnet);
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
      // Progress notifications (empty responses, sent only while the watch is
      // caught up) move `last` on when no lease changes, so a reconnect after
      // a quiet spell resumes near the head instead of from a compacted revision.
      w.request.progress_notify = true;
      w.on('data', (res: { events?: unknown[]; created?: boolean; header?: { revision?: string | number } }) => {
        if (!res.created && (res.events?.length ?? 0) === 0 && res.header?.revision !== undefined)
          last = Math.max(last, Number(res.header.revision));
      });
      w.on('connected', () => {
        backoff = 100;
        opts.onOpen?.();
      });
      w.on('put', (kv) => {
        const rev = Number(kv.mod_revision);
        if (closed || rev < last) return; // one txn can change several keys at one revision
        last = rev;
        const lease = this.#toLease(kv);
        if (lease)
          onEvent({
            type: 'put',
            subnet: lease.subnet,
            ...(lease.ipv6Subnet ? { ipv6Subnet: lease.ipv6Subnet } : {}),
            lease,
            revision: rev,
          });
      });
      w.on('delete', (kv) => {
        const rev = Number(kv.mod_revision);
        if (closed || rev < last) return; // one txn can change several keys at one revision
        last = rev;
        const k = subnetKeyOfPath(this.#prefix, kv.key.toString());
        const parsed = k === undefined ? undefined : parseSubnetKey(k);
        if (parsed) onEvent({ type: 'delete', ...parsed, revision: rev });
      });
      w.on('disconnected', (err: Error) => {
        // etcd3 resumes from the revision of the last header it saw, which
        // can be past events not delivered yet (the created response carries
        // the member's current revision): resume after the last one applied.
        (w.request as { start_revision?: string | number }).start_revision = String(last + 1);
        opts.onError?.(this.#wrap('watch', err));
      });
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
