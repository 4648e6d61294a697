// The etcd setup the etcd tests share: a 1- or 3-member etcd, each member in
// a namespace of its own plugged into a test switch (the weft Cluster's
// bridge) at 198.18.0.101, .102, .103 — reachable by every node, and cut off
// by iptables rules inside the member's own namespace (never the root one).
// With `tls` the test makes a CA, server and client certificates with
// openssl (plus a second, unrelated CA for the wrong-CA case) and the members
// require client certificates.

import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EtcdInNs, type EtcdTls } from './etcd-ns';
import { Netns } from './netns';
import { tempDir, until } from './weft-agent';

export interface TlsFiles extends EtcdTls {
  dir: string;
  /** A CA that signed nothing here: the server's certificate fails against it. */
  wrongCa: string;
  /** A client certificate and key from the wrong CA: the server refuses it. */
  wrongClientCert: string;
  wrongClientKey: string;
}

function openssl(dir: string, ...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** CA, server certificate for `ips` (and 127.0.0.1), client certificate; RSA 2048, valid 2 days. */
export function makeTlsFiles(ips: string[]): TlsFiles {
  const dir = tempDir('etcd-tls');
  const ca = (name: string, cn: string): void =>
    openssl(
      dir,
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      `${name}-key.pem`,
      '-out',
      `${name}.pem`,
      '-days',
      '2',
      '-subj',
      `/CN=${cn}`,
    );
  const leaf = (name: string, cn: string, caName: string, ext: string): void => {
    writeFileSync(join(dir, `${name}.ext`), ext);
    openssl(dir, 'req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}-key.pem`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
    openssl(
      dir,
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      `${caName}.pem`,
      '-CAkey',
      `${caName}-key.pem`,
      '-CAcreateserial',
      '-out',
      `${name}.pem`,
      '-days',
      '2',
      '-extfile',
      `${name}.ext`,
    );
  };
  ca('ca', 'weft-test-ca');
  ca('wrong-ca', 'weft-test-wrong-ca');
  const san = ['127.0.0.1', ...ips].map((ip) => `IP:${ip}`).join(',');
  leaf('server', 'etcd', 'ca', `subjectAltName=${san}\nextendedKeyUsage=serverAuth,clientAuth\n`);
  leaf('client', 'weft', 'ca', 'extendedKeyUsage=clientAuth\n');
  leaf('wrong-client', 'weft', 'wrong-ca', 'extendedKeyUsage=clientAuth\n');
  const f = (n: string): string => join(dir, n);
  return {
    dir,
    ca: f('ca.pem'),
    serverCert: f('server.pem'),
    serverKey: f('server-key.pem'),
    clientCert: f('client.pem'),
    clientKey: f('client-key.pem'),
    wrongCa: f('wrong-ca.pem'),
    wrongClientCert: f('wrong-client.pem'),
    wrongClientKey: f('wrong-client-key.pem'),
  };
}

export interface EtcdClusterOptions {
  /** 1 (default) or 3 members. */
  size?: 1 | 3;
  tls?: boolean;
  /** Namespace name prefix (the owner's). */
  prefix?: string;
  label?: string;
}

export class EtcdCluster {
  readonly members: EtcdInNs[];
  readonly tls: TlsFiles | undefined;
  readonly #sw: Netns;
  readonly #ports: string[] = [];
  readonly #cut = new Set<EtcdInNs>();

  /** Member namespaces joined to `sw`'s bridge br0 (a weft Cluster's switch). Call start() next. */
  constructor(sw: Netns, opts: EtcdClusterOptions = {}) {
    const size = opts.size ?? 1;
    const label = opts.label ?? 'etcd';
    const ips = Array.from({ length: size }, (_, i) => `198.18.0.${101 + i}`);
    this.#sw = sw;
    this.tls = opts.tls ? makeTlsFiles(ips) : undefined;
    const spec = ips.map((ip, i) => ({ name: `m${i + 1}`, ip }));
    this.members = ips.map((ip, i) => {
      const ns = new Netns(`${label}${i + 1}`, opts.prefix ? { prefix: opts.prefix } : {});
      const port = `e${i + 1}`;
      sw.ip('link', 'add', port, 'type', 'veth', 'peer', 'name', 'ul');
      sw.ip('link', 'set', 'ul', 'netns', ns.name);
      sw.ip('link', 'set', port, 'master', 'br0');
      sw.ip('link', 'set', port, 'up');
      this.#ports.push(port);
      ns.ip('addr', 'add', `${ip}/24`, 'dev', 'ul');
      ns.ip('link', 'set', 'ul', 'up');
      return new EtcdInNs(ns, ip, size > 1 ? { name: spec[i]!.name, cluster: spec } : undefined, this.tls ? { tls: this.tls } : {});
    });
  }

  /** Starts every member and waits until the cluster answers. */
  async start(): Promise<void> {
    for (const m of this.members) await m.start({ wait: false });
    await until(
      () => {
        try {
          this.members[0]!.ctl('endpoint', 'health');
          return true;
        } catch {
          return false;
        }
      },
      30_000,
      'etcd healthy',
    );
  }

  /** `--etcd-endpoints` value: every member, as flanneld takes them. */
  get endpoints(): string {
    return this.members.map((m) => m.endpoint).join(',');
  }

  /** The agent's etcd flags: endpoints, and the TLS files when the cluster has TLS. */
  agentArgs(opts: { ca?: string; cert?: string; key?: string } = {}): string[] {
    const t = this.tls;
    const tls = t
      ? ['--etcd-cafile', opts.ca ?? t.ca, '--etcd-certfile', opts.cert ?? t.clientCert, '--etcd-keyfile', opts.key ?? t.clientKey]
      : [];
    return ['--etcd-endpoints', this.endpoints, ...tls];
  }

  /** etcdctl through the first member not cut off. */
  ctl(...args: string[]): string {
    return this.members.find((m) => !this.#cut.has(m) && m.running)!.ctl(...args);
  }

  /** The current leader, asked of the members still in the quorum. */
  leader(): EtcdInNs {
    const via = this.members.find((m) => !this.#cut.has(m) && m.running)!;
    const status = JSON.parse(
      via
        .ctl('endpoint', 'status', '--cluster', '-w', 'json')
        .replace(/"(member_id|leader|cluster_id|raft_term|raft_index|revision|raftAppliedIndex|raft_applied_index)":(\d+)/g, '"$1":"$2"'),
    ) as { Endpoint: string; Status: { header: { member_id: string }; leader: string } }[];
    const ep = status.find((s) => s.Status.header.member_id === s.Status.leader)?.Endpoint;
    const m = this.members.find((x) => x.endpoint === ep);
    if (!m) throw new Error(`no leader in ${JSON.stringify(status)}`);
    return m;
  }

  /**
   * Cuts `m` off from the other members (iptables DROP both ways, inside m's
   * namespace): it still answers clients, but has no leader and goes stale.
   */
  partition(m: EtcdInNs): void {
    for (const o of this.members) {
      if (o === m) continue;
      m.ns.exec('iptables', '-A', 'INPUT', '-s', o.ip, '-j', 'DROP');
      m.ns.exec('iptables', '-A', 'OUTPUT', '-d', o.ip, '-j', 'DROP');
    }
    this.#cut.add(m);
  }

  heal(m: EtcdInNs): void {
    m.ns.exec('iptables', '-F', 'INPUT');
    m.ns.exec('iptables', '-F', 'OUTPUT');
    this.#cut.delete(m);
  }

  /** Retries a write until a member in the quorum takes it (during an election or a partition). */
  async write(...args: string[]): Promise<number> {
    const t0 = Date.now();
    await until(
      () => {
        try {
          this.ctl(...args);
          return true;
        } catch {
          return false;
        }
      },
      20_000,
      `etcdctl ${args.join(' ')}`,
    );
    return Date.now() - t0;
  }

  async destroy(): Promise<void> {
    for (const m of this.members) {
      await m.stop();
      await m.ns.destroy();
    }
    for (const p of this.#ports) {
      try {
        this.#sw.ip('link', 'del', p);
      } catch {
        // gone with its peer
      }
    }
    if (this.tls) rmSync(this.tls.dir, { recursive: true, force: true });
  }
}
