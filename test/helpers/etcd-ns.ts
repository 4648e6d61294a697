// A real etcd server inside a test namespace (never in the root one):
// listening on <ip>:2379 (reachable over the test underlay) and on the
// namespace's own 127.0.0.1, data in a temp dir, killed by PID in stop().
// etcdctl runs inside the same namespace to read and write raw keys. With
// `tls` the client URLs are https and client certificates are required
// (peers still talk plain http). Clusters: see etcd-cluster.ts.

import { rmSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import type { Netns } from './netns';
import { tempDir, until } from './weft-agent';

export interface RawKv {
  key: string;
  value: string;
  /** Decimal lease id as text (int64: beyond JS number precision); '0' = none. */
  lease: string;
}

/** PEM files made by makeTlsFiles() (etcd-cluster.ts). */
export interface EtcdTls {
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

export class EtcdInNs {
  readonly ns: Netns;
  readonly ip: string;
  readonly endpoint: string;
  readonly tls: EtcdTls | undefined;
  readonly #dir: string;
  #child: ChildProcess | undefined;
  log = '';

  readonly #name: string;
  readonly #peerUrl: string;
  readonly #initialCluster: string;
  readonly #local: string;

  /**
   * A single member by default; `member` makes it one of a cluster: its name
   * and every member's `name=http://ip:2380` (peers talk over the underlay).
   */
  constructor(ns: Netns, ip: string, member?: { name: string; cluster: { name: string; ip: string }[] }, opts: { tls?: EtcdTls } = {}) {
    this.ns = ns;
    this.ip = ip;
    this.tls = opts.tls;
    const scheme = opts.tls ? 'https' : 'http';
    this.endpoint = `${scheme}://${ip}:2379`;
    this.#local = `${scheme}://127.0.0.1:2379`;
    this.#dir = tempDir('etcd');
    this.#name = member?.name ?? 'weft-test';
    this.#peerUrl = member ? `http://${ip}:2380` : 'http://127.0.0.1:2380';
    this.#initialCluster = member
      ? member.cluster.map((m) => `${m.name}=http://${m.ip}:2380`).join(',')
      : `weft-test=http://127.0.0.1:2380`;
  }

  /** Starts the member; `wait: false` for cluster members started together (health needs a quorum). */
  async start(opts: { wait?: boolean } = {}): Promise<void> {
    this.#child = this.ns.spawn(
      'etcd',
      [
        '--name',
        this.#name,
        '--data-dir',
        this.#dir,
        '--listen-client-urls',
        `${this.endpoint},${this.#local}`,
        '--advertise-client-urls',
        this.endpoint,
        '--listen-peer-urls',
        this.#peerUrl,
        '--initial-advertise-peer-urls',
        this.#peerUrl,
        '--initial-cluster',
        this.#initialCluster,
        '--initial-cluster-token',
        'weft-test',
        '--log-level',
        'warn',
        ...(this.tls
          ? ['--client-cert-auth', '--trusted-ca-file', this.tls.ca, '--cert-file', this.tls.serverCert, '--key-file', this.tls.serverKey]
          : []),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.#child.stdout!.on('data', (d: Buffer) => (this.log += d.toString()));
    this.#child.stderr!.on('data', (d: Buffer) => (this.log += d.toString()));
    if (opts.wait === false) return;
    await until(
      () => {
        try {
          this.ctl('endpoint', 'health');
          return true;
        } catch {
          return false;
        }
      },
      20_000,
      'etcd healthy',
    );
  }

  ctl(...args: string[]): string {
    const tls = this.tls ? ['--cacert', this.tls.ca, '--cert', this.tls.clientCert, '--key', this.tls.clientKey] : [];
    return this.ns.exec('etcdctl', '--endpoints', this.endpoint, '--dial-timeout', '2s', '--command-timeout', '3s', ...tls, ...args);
  }

  /** The server's gauge of open watchers (etcd_debugging_mvcc_watcher_total), from /metrics. */
  watchers(): number {
    const tls = this.tls ? ['--cacert', this.tls.ca, '--cert', this.tls.clientCert, '--key', this.tls.clientKey] : [];
    const out = this.ns.exec('curl', '-s', '-m', '3', ...tls, `${this.endpoint}/metrics`);
    const m = /^etcd_debugging_mvcc_watcher_total (\d+)/m.exec(out);
    if (!m) throw new Error(`no watcher gauge in ${this.endpoint}/metrics`);
    return Number(m[1]);
  }

  /** Every key under prefix with value and lease id (0 = none). */
  getPrefix(prefix: string): RawKv[] {
    const text = this.ctl('get', '--prefix', prefix, '-w', 'json').replace(/"lease":(\d+)/g, '"lease":"$1"');
    const out = JSON.parse(text) as { kvs?: { key: string; value: string; lease?: string }[] };
    return (out.kvs ?? []).map((kv) => ({
      key: Buffer.from(kv.key, 'base64').toString(),
      value: Buffer.from(kv.value, 'base64').toString(),
      lease: kv.lease ?? '0',
    }));
  }

  /** Grants a lease; returns its id in hex (etcdctl's form). */
  grant(ttlSec: number): string {
    const m = /lease ([0-9a-f]+) granted/.exec(this.ctl('lease', 'grant', String(ttlSec)));
    if (!m) throw new Error('lease grant failed');
    return m[1]!;
  }

  /** { granted, remaining } TTL seconds of a lease (decimal id). */
  ttl(leaseId: string): { granted: number; remaining: number } {
    const out = JSON.parse(
      this.ctl('lease', 'timetolive', BigInt(leaseId).toString(16), '-w', 'json').replace(/"id":(\d+)/, '"id":"$1"'),
    ) as { ttl: number; 'granted-ttl': number };
    return { granted: out['granted-ttl'], remaining: out.ttl };
  }

  get running(): boolean {
    const c = this.#child;
    return c !== undefined && c.exitCode === null && c.signalCode === null;
  }

  /** Kills the server (an outage) but keeps its data, so start() brings the same cluster back. */
  async crash(): Promise<void> {
    const c = this.#child;
    if (c && c.exitCode === null && c.signalCode === null && c.pid) {
      const exited = new Promise((r) => c.once('exit', r));
      process.kill(c.pid, 'SIGKILL');
      await exited;
    }
  }

  async stop(): Promise<void> {
    const c = this.#child;
    if (c && c.exitCode === null && c.signalCode === null && c.pid) {
      const exited = new Promise((r) => c.once('exit', r));
      process.kill(c.pid, 'SIGKILL');
      await exited;
    }
    rmSync(this.#dir, { recursive: true, force: true });
  }
}
