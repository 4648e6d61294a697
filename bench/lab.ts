// The benchmark's topology: two namespaces joined by four veth pairs, one per
// path under test, all up at once so that rounds can interleave them.
//
//   path          underlay        overlay (A pod -> B pod)    what carries it
//   veth          198.18.0.0/24   198.18.0.1 -> 198.18.0.2    nothing: the bare veth
//   kernel-vxlan  198.18.1.0/24   10.201.1.5 -> 10.201.2.5    flannel.1, Linux vxlan, as flanneld sets it up
//   weft-vxlan    198.18.2.0/24   10.202.1.5 -> 10.202.2.5    weft vxlan (TUN weftvx, port 8473)
//   weft-udp      198.18.3.0/24   10.203.1.5 -> 10.203.2.5    weft udp (TUN weftudp, port 8285)
//
// With `peers`, four more veth pairs (198.18.4–7.0/24) carry the userspace
// tunnels of bench/peers.ts (fastd, tinc, wireguard-go, nebula), each as one
// more path of the same rounds; one whose package is missing, or that does
// not come up, is listed in `peers` with why, and not measured.
//
// Layouts: "shared" lets the scheduler put every process anywhere (both
// hosts share all cores, as two namespaces on one machine do); "pinned"
// keeps each host's processes (its weft, its iperf3/sockperf/ping end) on a
// CPU of its own — host A on CPU 0, host B on CPU 1 — which models two
// machines: a packet crossing hosts also crosses CPUs and wakes the other
// side, as it would over a wire.
//
// Each underlay keeps veth's default offloads: the kernel path gets every
// advantage veth gives it. The weft VXLAN port differs from 8472 only
// because the kernel device already holds that port in the same namespace.

import type { ChildProcess } from 'node:child_process';
import { Netns, vethPair } from '../src/lab/netns';
import { WeftHost, kernelVxlanNode, kernelVxlanPeer } from '../src/lab/overlay';
import type { OffloadOptions } from '../src/dataplane/options';
import { kSockperfPorts, type Path, type Runner } from './measure';
import { kPeers, peerMissing, startPeer, type PeerName, type PeerTunnel } from './peers';

/** Per weft backend: overlay second octet 10.<n>, underlay 198.18.<u>, device, port. */
const kWeftPaths = { vxlan: [202, 2, 'weftvx', 8473], udp: [203, 3, 'weftudp', 8285] } as const;

export type CaseName = 'veth' | 'kernel-vxlan' | 'weft-vxlan' | 'weft-udp' | PeerName;

/** What became of each peer tunnel asked for: "measured", "not installed: <package>" or "failed: <why>". */
export interface PeerStatus {
  name: string;
  label: string;
  status: string;
}

export type Layout = 'shared' | 'pinned';

export interface BenchCase {
  name: CaseName;
  label: string;
  path: Path;
}

export const kCases: readonly BenchCase[] = [
  { name: 'veth', label: 'bare veth', path: { src: '198.18.0.1', dst: '198.18.0.2' } },
  { name: 'kernel-vxlan', label: 'kernel VXLAN (flannel.1)', path: { src: '10.201.1.5', dst: '10.201.2.5' } },
  { name: 'weft-vxlan', label: 'weft vxlan', path: { src: '10.202.1.5', dst: '10.202.2.5' } },
  { name: 'weft-udp', label: 'weft udp', path: { src: '10.203.1.5', dst: '10.203.2.5' } },
];

export class BenchLab {
  readonly a: Netns;
  readonly b: Netns;
  readonly #hosts = new Map<'vxlan' | 'udp', [WeftHost, WeftHost]>();
  #queues: number | undefined;
  #pollBudgetUs: number | undefined;
  readonly layout: Layout;
  /** Host A's client end: runs commands in A, on CPU 0 in the pinned layout. */
  readonly client: Runner;
  readonly #servers: ChildProcess[] = [];
  readonly #peers: PeerTunnel[] = [];
  /** The paths measured in each round: kCases, then the peer tunnels that came up. */
  readonly cases: BenchCase[] = [...kCases];
  /** Every peer tunnel asked for and what became of it (empty without `peers`). */
  readonly peers: PeerStatus[] = [];

  private constructor(a: Netns, b: Netns, layout: Layout) {
    this.a = a;
    this.b = b;
    this.layout = layout;
    this.client = { exec: (cmd, ...args) => a.exec(...this.#pin(0, cmd, args)) };
  }

  /** `cmd args` prefixed with taskset for host `cpu`'s CPU in the pinned layout. */
  #pin(cpu: number, cmd: string, args: string[]): [string, ...string[]] {
    return this.layout === 'pinned' ? ['taskset', '-c', String(cpu), cmd, ...args] : [cmd, ...args];
  }

  static async build(
    opts: {
      queues?: number;
      layout?: Layout;
      pollBudgetUs?: number;
      peers?: boolean;
      /** Namespace name prefix (default: Netns's own, weft-t<pid>-<n>). */
      nsPrefix?: string;
      progress?: (line: string) => void;
    } = {},
  ): Promise<BenchLab> {
    const ns = opts.nsPrefix ? { prefix: `${opts.nsPrefix}-${process.pid}` } : {};
    const lab = new BenchLab(new Netns('bencha', ns), new Netns('benchb', ns), opts.layout ?? 'shared');
    try {
      lab.#pollBudgetUs = opts.pollBudgetUs;
      await lab.#setUp(opts.queues, opts.peers ?? false, opts.progress ?? (() => undefined));
    } catch (e) {
      await lab.destroy();
      throw e;
    }
    return lab;
  }

  async #setUp(queues: number | undefined, peers: boolean, progress: (line: string) => void): Promise<void> {
    const { a, b } = this;
    this.#queues = queues;
    ['u0', 'u1', 'u2', 'u3'].forEach((name, i) => vethPair(a, b, name, `198.18.${i}`));
    for (const [ns, n] of [
      [a, 1],
      [b, 2],
    ] as const) {
      for (const net of [201, 202, 203]) ns.ip('addr', 'add', `10.${net}.${n}.5/32`, 'dev', 'lo');
    }

    const macs = ['0e:2a:0a:c9:01:00', '0e:2a:0a:c9:02:00'];
    [a, b].forEach((ns, i) =>
      kernelVxlanNode(ns, {
        publicIp: `198.18.1.${i + 1}`,
        subnet: `10.201.${i + 1}.0/24`,
        mac: macs[i]!,
        underlay: 'u1',
        wireFrames: false,
      }),
    );
    kernelVxlanPeer(a, { subnet: '10.201.2.0/24', publicIp: '198.18.1.2', mac: macs[1]! });
    kernelVxlanPeer(b, { subnet: '10.201.1.0/24', publicIp: '198.18.1.1', mac: macs[0]! });

    for (const backend of ['vxlan', 'udp'] as const) await this.#startWeft(backend, {});
    if (peers) await this.#startPeers(progress);
    // One iperf3 server per path, bound to the path's address: a UDP reply
    // from a wildcard socket would leave from the device's own address
    // (<subnet>.0) and miss the client's connected socket.
    for (const c of this.cases) {
      const servers: [string, string[]][] = [
        ['iperf3', ['-s', '-B', c.path.dst]],
        ['sockperf', ['server', '-i', c.path.dst, '-p', String(kSockperfPorts.tcp), '--tcp']],
        ['sockperf', ['server', '-i', c.path.dst, '-p', String(kSockperfPorts.udp)]],
      ];
      for (const [cmd, args] of servers) this.#servers.push(b.spawn(...this.#pinSpawn(1, cmd, args)));
    }
    await new Promise((r) => setTimeout(r, 300));
  }

  /** Each peer tunnel on its own veth pair; a missing or failing one is recorded, not measured. */
  async #startPeers(progress: (line: string) => void): Promise<void> {
    for (const p of kPeers) {
      const missing = peerMissing(p);
      if (missing) {
        this.peers.push({ name: p.name, label: p.label, status: missing });
        progress(`${p.label}: ${missing} (not measured)`);
        continue;
      }
      vethPair(this.a, this.b, `u${p.ul}`, `198.18.${p.ul}`);
      try {
        this.#peers.push(await startPeer(p, [this.a, this.b], (i, cmd, args) => this.#pinSpawn(i, cmd, args)));
        this.cases.push({ name: p.name, label: p.label, path: p.path });
        this.peers.push({ name: p.name, label: p.label, status: 'measured' });
        progress(`${p.label}: up`);
      } catch (e) {
        const why = (e as Error).message;
        this.peers.push({ name: p.name, label: p.label, status: `failed: ${why}` });
        progress(`${p.label}: failed to come up (not measured): ${why}`);
      }
    }
  }

  /** The pids of both hosts' daemons of peer tunnel `name` (for their idle CPU). */
  peerPids(name: PeerName): number[] {
    return this.#peers.find((t) => t.spec.name === name)?.pids() ?? [];
  }

  #pinSpawn(cpu: number, cmd: string, args: string[]): [string, string[]] {
    const [c, ...rest] = this.#pin(cpu, cmd, args);
    return [c, rest];
  }

  /** Starts (or restarts) the weft path of `backend` on both hosts with these offloads. */
  async #startWeft(backend: 'vxlan' | 'udp', offloads: OffloadOptions): Promise<void> {
    const [net, ul, device, port] = kWeftPaths[backend];
    const old = this.#hosts.get(backend);
    if (old) await Promise.all(old.map((h) => h.close()));
    const [ha, hb] = (await Promise.all(
      [this.a, this.b].map((ns, i) =>
        WeftHost.start(
          ns,
          {
            backend,
            device,
            port,
            publicIp: `198.18.${ul}.${i + 1}`,
            network: `10.${net}.0.0/16`,
            subnet: `10.${net}.${i + 1}.0/24`,
            offloads,
            ...(this.#queues ? { queues: this.#queues } : {}),
            ...(this.#pollBudgetUs !== undefined ? { pollBudgetUs: this.#pollBudgetUs } : {}),
          },
          this.layout === 'pinned' ? { wrap: ['taskset', '-c', String(i)] } : {},
        ),
      ),
    )) as [WeftHost, WeftHost];
    this.#hosts.set(backend, [ha, hb]);
    await ha.set({ subnet: `10.${net}.2.0/24`, publicIp: `198.18.${ul}.2`, ...(hb.vtepMac ? { vtepMac: hb.vtepMac } : {}) });
    await hb.set({ subnet: `10.${net}.1.0/24`, publicIp: `198.18.${ul}.1`, ...(ha.vtepMac ? { vtepMac: ha.vtepMac } : {}) });
  }

  /** Restarts weft vxlan with `offloads` (to measure what each one buys). */
  restartWeftVxlan(offloads: OffloadOptions): Promise<void> {
    return this.#startWeft('vxlan', offloads);
  }

  /** The pids of both hosts' data plane processes of `backend` (for their idle CPU). */
  async weftPids(backend: 'vxlan' | 'udp'): Promise<number[]> {
    const hosts = this.#hosts.get(backend) ?? [];
    return Promise.all(hosts.map(async (h) => (await h.health()).pid));
  }

  /** Drops and counters of the weft data planes on host A, for the report. */
  async weftStats(): Promise<Record<string, Awaited<ReturnType<WeftHost['stats']>>>> {
    const out: Record<string, Awaited<ReturnType<WeftHost['stats']>>> = {};
    for (const h of [...this.#hosts.values()].flat()) {
      const s = await h.stats();
      out[`${h.ns === this.a ? 'A' : 'B'}:${s.device}`] = s;
    }
    return out;
  }

  async destroy(): Promise<void> {
    for (const s of this.#servers) s.kill();
    await Promise.all([...this.#hosts.values()].flat().map((h) => h.close().catch(() => undefined)));
    await Promise.all(this.#peers.map((t) => t.stop().catch(() => undefined)));
    await this.a.destroy();
    await this.b.destroy();
  }
}
