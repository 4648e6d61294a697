// The benchmark's topology: two namespaces joined by four veth pairs, one per
// path under test, all up at once so that rounds can interleave them.
//
//   path          underlay        overlay (A pod -> B pod)    what carries it
//   veth          198.18.0.0/24   198.18.0.1 -> 198.18.0.2    nothing: the bare veth
//   kernel-vxlan  198.18.1.0/24   10.201.1.5 -> 10.201.2.5    flannel.1, Linux vxlan, as flanneld sets it up
//   weft-vxlan    198.18.2.0/24   10.202.1.5 -> 10.202.2.5    weft vxlan (TUN weftvx, port 8473)
//   weft-udp      198.18.3.0/24   10.203.1.5 -> 10.203.2.5    weft udp (TUN weftudp, port 8285)
//
// With `ipv6`, two more veth pairs carry IPv6 (underlay 2001:2::/48, RFC 5180's
// benchmarking range; overlay fd00::/8 ULAs numbered after the IPv4 paths):
//
//   kernel-vxlan6 2001:2:0:8::/64 fd00:201:0:1::5 -> fd00:201:0:2::5  flannel-v6.1, Linux vxlan over IPv6
//   weft-vxlan6   2001:2:0:9::/64 fd00:202:0:1::5 -> fd00:202:0:2::5  weft vxlan dual stack (TUN weftvx6, port 8474)
//
// weft-vxlan6's data plane is dual stack (IPv4 options stay required): its
// IPv4 side (198.18.9.0/24, 10.209.0.0/16) is configured as a dual-stack
// node's would be, but only IPv6 is measured over it.
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
// side, as it would over a wire. Received packets too: RPS on every veth
// steers a host's receive processing (softirq) to its own CPU, as a NIC's
// interrupt lands on the receiving machine. Without it veth hands a packet
// to the peer namespace on the sending CPU, and host A's CPU would run host
// B's whole kernel receive path (for kernel VXLAN: decapsulation, TCP, the
// ping reply) while B's CPU sleeps.
//
// Each underlay keeps veth's default offloads: the kernel path gets every
// advantage veth gives it. The weft VXLAN port differs from 8472 only
// because the kernel device already holds that port in the same namespace.

import type { ChildProcess } from 'node:child_process';
import { Netns, vethPair } from '../src/lab/netns';
import { WeftHost, kernelVxlanNode, kernelVxlanPeer } from '../src/lab/overlay';
import type { DataPlaneOptions, OffloadOptions } from '../src/dataplane/options';
import { kSockperfPorts, type Path, type Runner } from './measure';
import { kPeers, peerMissing, startPeer, type PeerName, type PeerTunnel } from './peers';

/** Per weft path: backend, overlay second octet 10.<n>, underlay 198.18.<u>, device, port; IPv6 overlay for weft-vxlan6. */
const kWeftPaths = {
  'weft-vxlan': { backend: 'vxlan', net: 202, ul: 2, device: 'weftvx', port: 8473 },
  'weft-udp': { backend: 'udp', net: 203, ul: 3, device: 'weftudp', port: 8285 },
  'weft-vxlan6': { backend: 'vxlan', net: 209, ul: 9, device: 'weftvx6', port: 8474, net6: 'fd00:202' },
} as const;
export type WeftPath = keyof typeof kWeftPaths;

export type CaseName = 'veth' | 'kernel-vxlan' | 'weft-vxlan' | 'weft-udp' | 'kernel-vxlan6' | 'weft-vxlan6' | PeerName;

/** What became of each peer tunnel asked for: "measured", "not installed: <package>" or "failed: <why>". */
export interface PeerStatus {
  name: string;
  label: string;
  status: string;
}

export type Layout = 'shared' | 'pinned';

/** A measurement a path may lack (with the reason, in BenchCase.notMeasured). */
export type Measurement = 'sockperf' | 'udp64';

export interface BenchCase {
  name: CaseName;
  label: string;
  path: Path;
  /** IP family of the measured (inner) traffic; ratios are taken against kernel VXLAN of the same family. */
  family: 4 | 6;
  /** Measurements this path does not get, and why (reported in the JSON and on the terminal). */
  notMeasured?: Partial<Record<Measurement, string>>;
}

export const kCases: readonly BenchCase[] = [
  { name: 'veth', label: 'bare veth', family: 4, path: { src: '198.18.0.1', dst: '198.18.0.2' } },
  { name: 'kernel-vxlan', label: 'kernel VXLAN (flannel.1)', family: 4, path: { src: '10.201.1.5', dst: '10.201.2.5' } },
  { name: 'weft-vxlan', label: 'weft vxlan', family: 4, path: { src: '10.202.1.5', dst: '10.202.2.5' } },
  { name: 'weft-udp', label: 'weft udp', family: 4, path: { src: '10.203.1.5', dst: '10.203.2.5' } },
];

/** What the IPv6 rows do not measure, and why. */
const kV6NotMeasured: Partial<Record<Measurement, string>> = {
  sockperf: "Debian's sockperf (3.7) has no IPv6: it rejects an IPv6 address as invalid",
  udp64: 'the IPv6 rows measure ping and TCP only',
};

/** The IPv6 paths, measured with `ipv6`. */
export const kIpv6Cases: readonly BenchCase[] = [
  {
    name: 'kernel-vxlan6',
    label: 'kernel VXLAN6 (flannel-v6.1)',
    family: 6,
    path: { src: 'fd00:201:0:1::5', dst: 'fd00:201:0:2::5' },
    notMeasured: kV6NotMeasured,
  },
  {
    name: 'weft-vxlan6',
    label: 'weft vxlan6',
    family: 6,
    path: { src: 'fd00:202:0:1::5', dst: 'fd00:202:0:2::5' },
    notMeasured: kV6NotMeasured,
  },
];

/** The dual-stack part of a weft data plane's options, beside the IPv4 ones. */
type Ipv6Options = Required<Pick<DataPlaneOptions, 'publicIpv6' | 'ipv6Network' | 'ipv6Subnet' | 'vtepMacV6'>>;

export class BenchLab {
  readonly a: Netns;
  readonly b: Netns;
  readonly #hosts = new Map<WeftPath, [WeftHost, WeftHost]>();
  #queues: number | undefined;
  #pollBudgetUs: number | undefined;
  readonly layout: Layout;
  /** Host A's client end: runs commands in A, on CPU 0 in the pinned layout. */
  readonly client: Runner;
  readonly #servers: ChildProcess[] = [];
  readonly #peers: PeerTunnel[] = [];
  /** The paths measured in each round: kCases, the IPv6 paths, then the peer tunnels that came up. */
  readonly cases: BenchCase[] = [...kCases];
  /** Every peer tunnel asked for and what became of it (empty without `peers`). */
  readonly peers: PeerStatus[] = [];
  /** Pinned layout: each veth's RPS CPU mask as read back after steering (empty in the shared layout). */
  readonly steering: { host: 'A' | 'B'; dev: string; rpsCpus: string[] }[] = [];

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
      /** Also the IPv6 paths (kIpv6Cases). */
      ipv6?: boolean;
      /** Namespace name prefix (default: Netns's own, weft-t<pid>-<n>). */
      nsPrefix?: string;
      progress?: (line: string) => void;
    } = {},
  ): Promise<BenchLab> {
    const ns = opts.nsPrefix ? { prefix: `${opts.nsPrefix}-${process.pid}` } : {};
    const lab = new BenchLab(new Netns('bencha', ns), new Netns('benchb', ns), opts.layout ?? 'shared');
    try {
      lab.#pollBudgetUs = opts.pollBudgetUs;
      await lab.#setUp(opts.queues, opts.peers ?? false, opts.ipv6 ?? false, opts.progress ?? (() => undefined));
    } catch (e) {
      await lab.destroy();
      throw e;
    }
    return lab;
  }

  async #setUp(queues: number | undefined, peers: boolean, ipv6: boolean, progress: (line: string) => void): Promise<void> {
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

    for (const path of ['weft-vxlan', 'weft-udp'] as const) await this.#startWeft(path, {});
    if (ipv6) await this.#startIpv6(progress);
    if (peers) await this.#startPeers(progress);
    // One iperf3 server per path, bound to the path's address: a UDP reply
    // from a wildcard socket would leave from the device's own address
    // (<subnet>.0) and miss the client's connected socket.
    for (const c of this.cases) {
      const servers: [string, string[]][] = [['iperf3', ['-s', '-B', c.path.dst]]];
      if (!c.notMeasured?.sockperf) {
        servers.push(
          ['sockperf', ['server', '-i', c.path.dst, '-p', String(kSockperfPorts.tcp), '--tcp']],
          ['sockperf', ['server', '-i', c.path.dst, '-p', String(kSockperfPorts.udp)]],
        );
      }
      for (const [cmd, args] of servers) this.#servers.push(b.spawn(...this.#pinSpawn(1, cmd, args)));
    }
    if (this.layout === 'pinned') this.#steerReceive();
    await new Promise((r) => setTimeout(r, 300));
  }

  /** Pinned layout: RPS on each host's veths, so that what a host receives is processed on its CPU. */
  #steerReceive(): void {
    for (const [ns, cpu] of [
      [this.a, 0],
      [this.b, 1],
    ] as const) {
      const veths = (JSON.parse(ns.ip('-j', 'link', 'show', 'type', 'veth')) as { ifname: string }[]).map((l) => l.ifname);
      for (const dev of veths) {
        const masks = ns.exec(
          'sh',
          '-c',
          `for q in /sys/class/net/${dev}/queues/rx-*; do echo ${(1 << cpu).toString(16)} > "$q/rps_cpus" && cat "$q/rps_cpus"; done`,
        );
        this.steering.push({ host: cpu === 0 ? 'A' : 'B', dev, rpsCpus: masks.trim().split('\n') });
      }
    }
  }

  /**
   * kernel-vxlan6 on veth u8 and weft-vxlan6 on veth u9, each with an IPv6
   * underlay; a failure of either is the bench's failure, as for the IPv4 paths.
   */
  async #startIpv6(progress: (line: string) => void): Promise<void> {
    const { a, b } = this;
    const [kernel, weft] = kIpv6Cases as [BenchCase, BenchCase];
    const underlay6 = (ul: number): void => {
      vethPair(a, b, `u${ul}`, `198.18.${ul}`);
      [a, b].forEach((ns, i) => {
        ns.exec('sysctl', '-qw', `net/ipv6/conf/u${ul}/disable_ipv6=0`);
        ns.ip('-6', 'addr', 'add', `2001:2:0:${ul}::${i + 1}/64`, 'dev', `u${ul}`, 'nodad');
      });
    };
    const podAddresses = (c: BenchCase): void => {
      a.ip('-6', 'addr', 'add', `${c.path.src}/128`, 'dev', 'lo', 'nodad');
      b.ip('-6', 'addr', 'add', `${c.path.dst}/128`, 'dev', 'lo', 'nodad');
    };

    try {
      underlay6(8);
      podAddresses(kernel);
      // flannel-v6.1 with the kernel's own MTU (underlay − 70: flanneld's − 50 is refused).
      const macs = ['0e:2a:fd:c9:01:00', '0e:2a:fd:c9:02:00'];
      [a, b].forEach((ns, i) =>
        kernelVxlanNode(ns, {
          publicIp: `2001:2:0:8::${i + 1}`,
          subnet: `fd00:201:0:${i + 1}::/64`,
          mac: macs[i]!,
          underlay: 'u8',
          wireFrames: false,
        }),
      );
      kernelVxlanPeer(a, { subnet: 'fd00:201:0:2::/64', publicIp: '2001:2:0:8::2', mac: macs[1]! }, 'flannel-v6.1');
      kernelVxlanPeer(b, { subnet: 'fd00:201:0:1::/64', publicIp: '2001:2:0:8::1', mac: macs[0]! }, 'flannel-v6.1');
    } catch (e) {
      throw new Error(`--ipv6: ${kernel.label} could not be set up (is IPv6 enabled in this kernel?): ${(e as Error).message}`);
    }
    this.cases.push(kernel);
    progress(`${kernel.label}: up (MTU ${deviceMtu(a, 'flannel-v6.1')}, the kernel's clamp of an IPv6-underlay VXLAN device)`);

    underlay6(9);
    podAddresses(weft);
    await this.#startWeft('weft-vxlan6', {});
    this.cases.push(weft);
    progress(`${weft.label}: up`);
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
        this.cases.push({ name: p.name, label: p.label, family: 4, path: p.path });
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

  /**
   * Starts (or restarts) weft path `name` on both hosts with these offloads.
   * weft-vxlan6 is a dual-stack node: its IPv4 lease and peer as any, plus
   * its IPv6 lease, VtepMAC and peer over the IPv6 underlay.
   */
  async #startWeft(name: WeftPath, offloads: OffloadOptions, pollBudgetUs = this.#pollBudgetUs): Promise<void> {
    const p: (typeof kWeftPaths)[WeftPath] = kWeftPaths[name];
    const { backend, net, ul, device, port } = p;
    const net6 = 'net6' in p ? p.net6 : undefined;
    const v6 = (i: number): Ipv6Options | undefined =>
      net6 === undefined
        ? undefined
        : {
            publicIpv6: `2001:2:0:${ul}::${i + 1}`,
            ipv6Network: `${net6}::/48`,
            ipv6Subnet: `${net6}:0:${i + 1}::/64`,
            vtepMacV6: `0e:2a:fd:${ul.toString(16).padStart(2, '0')}:0${i + 1}:06`,
          };
    const old = this.#hosts.get(name);
    if (old) await Promise.all(old.map((h) => h.close()));
    const started = await Promise.allSettled(
      [this.a, this.b].map((ns, i) => {
        const options: DataPlaneOptions = {
          backend,
          device,
          port,
          publicIp: `198.18.${ul}.${i + 1}`,
          network: `10.${net}.0.0/16`,
          subnet: `10.${net}.${i + 1}.0/24`,
          offloads,
          ...(this.#queues ? { queues: this.#queues } : {}),
          ...(pollBudgetUs !== undefined ? { pollBudgetUs } : {}),
          ...v6(i),
        };
        return WeftHost.start(ns, options, this.layout === 'pinned' ? { wrap: ['taskset', '-c', String(i)] } : {});
      }),
    );
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) {
      // The host that did open is closed here: a refused path leaves nothing running.
      await Promise.all(started.map((s) => (s.status === 'fulfilled' ? s.value.close().catch(() => undefined) : undefined)));
      this.#hosts.delete(name);
      throw failed.reason;
    }
    const [ha, hb] = started.map((s) => (s as PromiseFulfilledResult<WeftHost>).value) as [WeftHost, WeftHost];
    this.#hosts.set(name, [ha, hb]);
    await ha.set({ subnet: `10.${net}.2.0/24`, publicIp: `198.18.${ul}.2`, ...(hb.vtepMac ? { vtepMac: hb.vtepMac } : {}) });
    await hb.set({ subnet: `10.${net}.1.0/24`, publicIp: `198.18.${ul}.1`, ...(ha.vtepMac ? { vtepMac: ha.vtepMac } : {}) });
    const [va, vb] = [v6(0), v6(1)];
    if (va && vb) {
      await ha.set({ subnet: vb.ipv6Subnet, publicIp: vb.publicIpv6, vtepMac: vb.vtepMacV6 });
      await hb.set({ subnet: va.ipv6Subnet, publicIp: va.publicIpv6, vtepMac: va.vtepMacV6 });
    }
  }

  /** Restarts weft vxlan with `offloads` and polling cap (to measure what each one buys; undefined: the lab's). */
  restartWeftVxlan(offloads: OffloadOptions, pollBudgetUs?: number): Promise<void> {
    return this.#startWeft('weft-vxlan', offloads, pollBudgetUs ?? this.#pollBudgetUs);
  }

  /** The weft paths running (weft-vxlan6 only when it came up). */
  get weftPaths(): WeftPath[] {
    return [...this.#hosts.keys()];
  }

  /** The pids of both hosts' data plane processes of weft path `name` (for their idle CPU). */
  async weftPids(name: WeftPath): Promise<number[]> {
    const hosts = this.#hosts.get(name) ?? [];
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

/** The MTU the kernel gave device `dev` in `ns`. */
function deviceMtu(ns: Netns, dev: string): number {
  return (JSON.parse(ns.ip('-j', 'link', 'show', dev)) as { mtu: number }[])[0]!.mtu;
}
