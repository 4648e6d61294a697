// Parent-side helpers for end-to-end tests: a data plane running in a
// namespace (WeftHost), pings, checked transfers, and a kernel VXLAN peer
// configured exactly as flanneld configures flannel.1.

import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { ChildProcess } from 'node:child_process';
import type { DataPlaneOptions, DataPlaneStats, TableEntry } from '../index';
import type { Netns } from './netns';

const kHelpers = __dirname;

export class WeftHost {
  readonly ns: Netns;
  readonly vtepMac: string | undefined;
  /** Dual stack: the MAC of its IPv6 frames. */
  readonly vtepMacV6: string | undefined;
  readonly reattached: boolean;
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, (msg: { ok: boolean; result?: unknown; error?: { message: string } }) => void>();
  #next = 1;

  private constructor(ns: Netns, child: ChildProcess, ready: { vtepMac: string | null; vtepMacV6?: string | null; reattached: boolean }) {
    this.ns = ns;
    this.#child = child;
    this.vtepMac = ready.vtepMac ?? undefined;
    this.vtepMacV6 = ready.vtepMacV6 ?? undefined;
    this.reattached = ready.reattached;
  }

  /**
   * `opts.wrap` is a command line the data plane process is started through
   * inside the namespace (e.g. `setpriv --reuid=nobody … --`, to run it
   * unprivileged); its last word is followed by node and dp-host.js.
   */
  static async start(ns: Netns, options: DataPlaneOptions, opts: { wrap?: string[]; handoff?: string } = {}): Promise<WeftHost> {
    // `handoff`: take over from the dp-host listening at that unix socket path, and listen there for the next.
    const argv = [process.execPath, join(kHelpers, 'dp-host.js'), JSON.stringify(options), ...(opts.handoff ? [opts.handoff] : [])];
    const wrap = opts.wrap ?? [];
    const child = wrap.length > 0 ? ns.spawn(wrap[0]!, [...wrap.slice(1), ...argv]) : ns.spawn(argv[0]!, argv.slice(1));
    const lines = createInterface({ input: child.stdout! });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const first = await new Promise<string>((resolve, reject) => {
      lines.once('line', resolve);
      child.once('exit', (code) => reject(new Error(`dp-host exited with ${code}: ${stderr}`)));
    });
    const ready = JSON.parse(first) as {
      ready: boolean;
      error?: { message: string };
      vtepMac: string | null;
      vtepMacV6?: string | null;
      reattached: boolean;
    };
    if (!ready.ready) throw new Error(`data plane did not open: ${ready.error?.message}`);
    const host = new WeftHost(ns, child, ready);
    lines.on('line', (line) => {
      const msg = JSON.parse(line) as { id: number; ok: boolean };
      host.#pending.get(msg.id)?.(msg);
      host.#pending.delete(msg.id);
    });
    return host;
  }

  async #call(op: string, arg?: unknown): Promise<unknown> {
    const id = this.#next++;
    const reply = new Promise<{ ok: boolean; result?: unknown; error?: { message: string } }>((resolve) => this.#pending.set(id, resolve));
    this.#child.stdin!.write(JSON.stringify({ id, op, arg }) + '\n');
    const msg = await reply;
    if (!msg.ok) throw new Error(msg.error?.message ?? 'failed');
    return msg.result;
  }

  set(entry: TableEntry): Promise<unknown> {
    return this.#call('set', entry);
  }

  delete(subnet: string): Promise<boolean> {
    return this.#call('delete', subnet) as Promise<boolean>;
  }

  stats(): Promise<DataPlaneStats> {
    return this.#call('stats') as Promise<DataPlaneStats>;
  }

  /** The data plane process's pid and its engine's fatal errno (0 while healthy). */
  health(): Promise<{ pid: number; fatalErrno: number; closed: boolean }> {
    return this.#call('health') as Promise<{ pid: number; fatalErrno: number; closed: boolean }>;
  }

  /** True while the data plane process runs. */
  get alive(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null;
  }

  async close(): Promise<void> {
    if (this.#child.exitCode !== null) return;
    const exited = once(this.#child, 'exit');
    await this.#call('close').catch(() => undefined);
    await exited;
  }
}

/** Pings `dst` (IPv4 or IPv6) from `ns` (optionally from source `src`); returns packets received. */
export function ping(ns: Netns, dst: string, opts: { count?: number; src?: string; size?: number } = {}): number {
  const args = ['-c', String(opts.count ?? 3), '-i', '0.2', '-W', '2'];
  if (opts.src) args.push('-I', opts.src);
  if (opts.size) args.push('-s', String(opts.size));
  try {
    const out = ns.exec('ping', ...(dst.includes(':') ? ['-6'] : []), ...args, dst);
    return Number(/(\d+) received/.exec(out)?.[1] ?? 0);
  } catch (e) {
    const out = String((e as { stdout?: string }).stdout ?? '');
    return Number(/(\d+) received/.exec(out)?.[1] ?? 0);
  }
}

export interface TransferResult {
  sha256: string;
  bytes: number;
  serverSha256: string;
  serverBytes: number;
  seconds: number;
  gbps: number;
}

/** Moves `bytes` random bytes over TCP from `from` to `to` (server on `toIp`) and returns both ends' hashes. */
export async function transfer(
  from: Netns,
  to: Netns,
  toIp: string,
  bytes: number,
  opts: { fromIp?: string; port?: number } = {},
): Promise<TransferResult> {
  const port = String(opts.port ?? 5201);
  const script = join(kHelpers, 'transfer.js');
  const server = to.spawn(process.execPath, [script, 'serve', toIp, port]);
  const serverLines = createInterface({ input: server.stdout! });
  await new Promise<void>((resolve, reject) => {
    serverLines.once('line', () => resolve());
    server.once('exit', (code) => reject(new Error(`transfer server exited with ${code}`)));
  });
  const client = from.spawn(process.execPath, [script, 'send', toIp, port, String(bytes), ...(opts.fromIp ? [opts.fromIp] : [])]);
  let out = '';
  let err = '';
  client.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  client.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const timer = setTimeout(() => client.kill('SIGKILL'), 120_000);
  const [code] = (await once(client, 'exit')) as [number | null];
  clearTimeout(timer);
  server.kill();
  if (code !== 0) throw new Error(`transfer failed (exit ${code}): ${err}`);
  return JSON.parse(out) as TransferResult;
}

export interface KernelVxlanNodeOptions {
  /** The node's PublicIP (IPv4: `flannel.<vni>`) or PublicIPv6 (IPv6: `flannel-v6.<vni>`). */
  publicIp: string;
  /** The lease on this device's family (`10.244.2.0/24`, `fd00:10:244:2::/64`). */
  subnet: string;
  mac: string;
  /** Default: 1450 for IPv4; for IPv6 the kernel's own clamp (underlay − 70). */
  mtu?: number;
  vni?: number;
  /** Underlay interface (default `ul`). */
  underlay?: string;
  /** Device name (default `flannel.<vni>` / `flannel-v6.<vni>`, flanneld's). */
  device?: string;
  /** Turn the underlay's tx offloads off so that what leaves is what a wire carries (default true). */
  wireFrames?: boolean;
}

/**
 * Makes `ns` a node whose `flannel.1` (or, for an IPv6 PublicIP,
 * `flannel-v6.1`) is a kernel VXLAN device configured as flanneld configures
 * it (flannel-facts §6): VNI, local PublicIP, no learning, the default port
 * (8472), `<subnet>.0/32` (IPv6: the subnet address /128, accept_ra 0),
 * MTU underlay − 50 (IPv6: flanneld's 1450 is refused by the kernel, which
 * keeps underlay − 70).
 */
export function kernelVxlanNode(ns: Netns, o: KernelVxlanNodeOptions): void {
  const vni = String(o.vni ?? 1);
  const v6 = o.publicIp.includes(':');
  const dev = o.device ?? (v6 ? `flannel-v6.${vni}` : `flannel.${vni}`);
  const underlay = o.underlay ?? 'ul';
  ns.ip('link', 'add', dev, 'type', 'vxlan', 'id', vni, 'local', o.publicIp, 'dev', underlay, 'nolearning', 'dstport', '8472');
  ns.ip('link', 'set', dev, 'address', o.mac);
  if (!v6 || o.mtu !== undefined) ns.ip('link', 'set', dev, 'mtu', String(o.mtu ?? 1450));
  if (v6) ns.exec('sysctl', '-qw', `net/ipv6/conf/${dev}/accept_ra=0`);
  ns.ip('addr', 'add', `${o.subnet.replace(/\/\d+$/, '')}/${v6 ? 128 : 32}`, 'dev', dev, ...(v6 ? ['nodad'] : []));
  ns.ip('link', 'set', dev, 'up');
  // veth hands CHECKSUM_PARTIAL and GSO skbs to the peer namespace as they
  // are; a NIC would complete checksums and segment first. With tx offloads
  // off, what leaves this node is what a wire carries (the fixtures'
  // "-offload-off" captures), which is what a userspace receiver must accept.
  if (o.wireFrames ?? true) ns.exec('ethtool', '-K', underlay, 'tx', 'off', 'tso', 'off', 'gso', 'off');
}

/**
 * flanneld's per-lease programming on a kernel VXLAN node: neighbour, FDB,
 * route (IPv6 leases on `flannel-v6.1` with the peer's PublicIPv6 alike).
 */
export function kernelVxlanPeer(ns: Netns, peer: { subnet: string; publicIp: string; mac: string }, device = 'flannel.1'): void {
  const gw = peer.subnet.replace(/\/\d+$/, '');
  ns.ip('neigh', 'replace', gw, 'lladdr', peer.mac, 'dev', device, 'nud', 'permanent');
  ns.exec('bridge', 'fdb', 'append', peer.mac, 'dev', device, 'dst', peer.publicIp, 'self', 'permanent');
  ns.ip('route', 'replace', peer.subnet, 'via', gw, 'dev', device, 'onlink');
}

/**
 * IPv6 on the underlay veth `ul` of each host: 2001:2::<i+1>/64 (RFC 5180),
 * no DAD, so the addresses are usable at once. Returns the addresses.
 */
export function underlay6(hosts: Netns[], dev = 'ul'): string[] {
  return hosts.map((h, i) => {
    const addr = `2001:2::${i + 1}`;
    h.exec('sysctl', '-qw', `net.ipv6.conf.${dev}.disable_ipv6=0`);
    h.ip('-6', 'addr', 'add', `${addr}/64`, 'dev', dev, 'nodad');
    return addr;
  });
}
