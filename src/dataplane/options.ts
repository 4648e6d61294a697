// DataPlane options: validated and resolved before anything touches the host.
//
// Every check is flat and explicit, and every failure is a WeftError with
// code ERR_WEFT_INVALID_OPTION naming the option (`options.subnet must be …`).

import { availableParallelism, networkInterfaces } from 'node:os';
import { kernelLinkOf } from '../host/kernel-links';
import { readFileSync, statSync } from 'node:fs';
import { invalidOption } from '../errors';
import { cidrContains, maskOf, parseCidr, type Cidr } from '../net/cidr';
import { cidr6Contains, parseCidr6, type Cidr6 } from '../net/cidr6';
import { formatIPv4, parseIPv4 } from '../net/ip';
import { formatIPv6, ipv6Bytes, parseIPv6 } from '../net/ip6';
import { isUnicastMac, normalizeMac, parseMac, randomMac } from '../net/mac';
import { loadAddon, type BackendName } from './native';

export type DataPlaneBackend = Extract<BackendName, 'udp' | 'vxlan'>;

export interface DataPlaneOptions {
  /** Encapsulation: flannel's `udp` format or VXLAN. */
  backend: DataPlaneBackend;
  /**
   * TUN device name; created if absent. Default `flannel.<vni>` (vxlan) /
   * `flannel0` (udp); IPv6-only vxlan: `flannel-v6.<vni>`, the name of
   * kernel flannel's only device in that mode.
   */
  device?: string;
  /**
   * Underlay IPv4 address to bind and send from; peers send to it. With
   * network and subnet: all three, or none for an IPv6-only vxlan data plane
   * (then publicIpv6, ipv6Network and ipv6Subnet are required).
   */
  publicIp?: string;
  /** Overlay network, e.g. 10.244.0.0/16: routed through the device. */
  network?: string;
  /** Own lease, e.g. 10.244.1.0/24: the device gets `<subnet>.0/32`. */
  subnet?: string;
  /** UDP port, here and at every peer. Default 8472 (vxlan) / 8285 (udp). */
  port?: number;
  /** VXLAN network identifier. Default 1. */
  vni?: number;
  /** Own VTEP MAC (vxlan). Default: kept from a re-attached table, else random. */
  vtepMac?: string;
  /**
   * Dual stack or IPv6-only (vxlan only): the underlay IPv6 address to bind
   * and send IPv6 overlay traffic from (a flannel node's PublicIPv6). Comes
   * with ipv6Network and ipv6Subnet. The same device carries both families.
   */
  publicIpv6?: string;
  /** The IPv6 overlay network, e.g. `fc00::/48`: routed through the device. */
  ipv6Network?: string;
  /** Own IPv6 lease, e.g. `fc00:0:0:3400::/64`: the device gets its network address /128. */
  ipv6Subnet?: string;
  /**
   * Own VTEP MAC of IPv6 frames (kernel flannel's `flannel-v6.<vni>` MAC, the
   * lease's BackendV6Data). Default: kept from a re-attached table, else random.
   */
  vtepMacV6?: string;
  /**
   * Device MTU. Default: underlay MTU − 50 (vxlan) / − 28 (udp); IPv6-only:
   * the IPv6 underlay's MTU − 70. Dual stack: the device's IPv6 MTU is
   * min(this, IPv6 underlay MTU − 70), as the kernel clamps flannel-v6.<vni>.
   */
  mtu?: number;
  /** Worker queues (TUN queues × threads). Default: min(cores, 4). */
  queues?: number;
  /** Shared-memory table file. Default unique per network namespace and device. */
  tablePath?: string;
  /** Keep the TUN device and the table after close, for a restart to re-attach. */
  persist?: boolean;
  /** Accept encapsulated traffic from any source, not only from lease PublicIPs (NAT). */
  allowUnknownPeers?: boolean;
  /**
   * Accept a decapsulated packet only if its inner source address lies in the
   * lease whose PublicIP is the datagram's outer source (drops count as
   * `badSource`). Default false. Needs outer sources to be PublicIPs: not
   * for NAT setups that need allowUnknownPeers.
   */
  checkInnerSource?: boolean;
  /**
   * Set the device up: address, MTU, route, txqueuelen, IPv6 off (needs
   * CAP_NET_ADMIN). Default true. false attaches to an existing device as it
   * is (pre-created by root, e.g. `ip tuntap add … user <uid>`), which lets
   * the data plane run unprivileged.
   */
  configureDevice?: boolean;
  /** Socket buffer size in bytes (SO_RCVBUF/SO_SNDBUF). Default 4 MiB. */
  socketBuffer?: number;
  /**
   * Adaptive polling: after traffic, a worker keeps polling without sleeping
   * for up to this many µs, learned from recent gaps between packets (twice
   * the last short gap, shrinking by a quarter each time it expires unused),
   * so an answer that comes back soon finds it awake instead of paying a
   * wake-up. 0 turns it off; default 200. An idle worker never spins.
   */
  pollBudgetUs?: number;
  /**
   * Offloads, all on by default; each falls back by itself when the kernel
   * refuses it. Switch one off to measure what it buys (`weft bench`).
   */
  offloads?: OffloadOptions;
}

export interface OffloadOptions {
  /** TUN with virtio_net_hdr (the base of tso, uso and coalesce). */
  vnetHdr?: boolean;
  /** Read TCP super-packets from the TUN and segment them ourselves. */
  tso?: boolean;
  /** Read UDP super-packets from the TUN. */
  uso?: boolean;
  /** Send trains of equal-size datagrams with one UDP_SEGMENT call. */
  udpGso?: boolean;
  /** Receive GRO-merged datagrams. */
  udpGro?: boolean;
  /** Merge received TCP segments into one TUN GSO write. */
  coalesce?: boolean;
}

/**
 * The IPv6 part of a dual-stack data plane, resolved (all undefined for an
 * IPv4-only one; the agent reads publicIpv6, ipv6Network, ipv6Subnet).
 */
export interface ResolvedIpv6 {
  readonly publicIpv6: string | undefined;
  /** 16 bytes, network order. */
  readonly publicIpv6Bytes: Buffer | undefined;
  readonly ipv6Network: Cidr6 | undefined;
  readonly ipv6Subnet: Cidr6 | undefined;
  /** The device's IPv6 MTU. */
  readonly mtu6: number | undefined;
  readonly vtepMacV6: string | undefined;
}

const kNoIpv6: ResolvedIpv6 = Object.freeze({
  publicIpv6: undefined,
  publicIpv6Bytes: undefined,
  ipv6Network: undefined,
  ipv6Subnet: undefined,
  mtu6: undefined,
  vtepMacV6: undefined,
});

/** The IPv4 part, resolved: all set, or all undefined on an IPv6-only data plane. */
export interface ResolvedIpv4 {
  readonly publicIp: string | undefined;
  readonly publicIpNum: number | undefined;
  readonly network: Cidr | undefined;
  readonly subnet: Cidr | undefined;
}

export interface ResolvedOptions extends ResolvedIpv6, ResolvedIpv4 {
  readonly backend: DataPlaneBackend;
  readonly device: string;
  readonly port: number;
  readonly vni: number;
  readonly vtepMac: string | undefined;
  readonly mtu: number;
  readonly queues: number;
  readonly tablePath: string;
  readonly persist: boolean;
  readonly allowUnknownPeers: boolean;
  readonly checkInnerSource: boolean;
  readonly configureDevice: boolean;
  readonly socketBuffer: number;
  readonly pollBudgetUs: number;
  readonly offloads: Readonly<Required<OffloadOptions>>;
}

export const kDefaultPort: Record<DataPlaneBackend, number> = { udp: 8285, vxlan: 8472 };
const kMaxVni = 0xffffff;

/**
 * What the kernel takes off the IPv6 underlay's MTU for a flannel-v6.<vni>
 * device (outer IPv6 40 + UDP 8 + VXLAN 8 + inner Ethernet 14).
 */
export const kVxlanOverhead6 = 70;
/** The IPv6 minimum link MTU (RFC 8200 5). */
const kMinMtu6 = 1280;

/** Bytes each encapsulation adds to an inner packet (outer IPv4 + UDP [+ VXLAN + Ethernet]), as the addon defines them. */
export function overheadOf(backend: DataPlaneBackend): number {
  return loadAddon().limits.overhead[backend];
}

/** The same, as a record (read from the addon on access). */
export const kOverhead: Readonly<Record<DataPlaneBackend, number>> = Object.freeze({
  get udp() {
    return overheadOf('udp');
  },
  get vxlan() {
    return overheadOf('vxlan');
  },
});
const kDeviceName = /^[A-Za-z0-9_.-]{1,15}$/;

const kKnown = new Set([
  'backend',
  'device',
  'publicIp',
  'network',
  'subnet',
  'port',
  'vni',
  'vtepMac',
  'publicIpv6',
  'ipv6Network',
  'ipv6Subnet',
  'vtepMacV6',
  'mtu',
  'queues',
  'tablePath',
  'persist',
  'allowUnknownPeers',
  'checkInnerSource',
  'configureDevice',
  'socketBuffer',
  'pollBudgetUs',
  'offloads',
]);

function int(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalidOption(`options.${name}`, `an integer from ${min} to ${max}`, value);
  }
  return value;
}

function bool(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw invalidOption(`options.${name}`, 'a boolean', value);
  return value;
}

/** The network namespace's inode: makes default table paths unique per namespace. */
export function netnsId(): string {
  try {
    return String(statSync('/proc/self/ns/net').ino);
  } catch {
    return 'host';
  }
}

/**
 * The directory of default table paths: `/dev/shm/weft` for root, and
 * `/dev/shm/weft-<uid>` for an unprivileged data plane (README "Running
 * unprivileged"), each made 0755 by its own user, so nobody else can plant
 * a file there beforehand (the open refuses one it finds anyway).
 */
export function defaultTableDir(): string {
  const uid = process.geteuid?.() ?? 0;
  return uid === 0 ? '/dev/shm/weft' : `/dev/shm/weft-${uid}`;
}

export function defaultTablePath(device: string): string {
  return `${defaultTableDir()}/${netnsId()}-${device}.table`;
}

/** MTU of the local interface that holds `ip`, or undefined when none does. */
export function underlayMtu(ip: string): number | undefined {
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    if (addrs?.some((a) => a.family === 'IPv4' && a.address === ip)) {
      try {
        return Number(readFileSync(`/sys/class/net/${name}/mtu`, 'utf8').trim());
      } catch {
        return undefined;
      }
    }
  }
  // Not listed by Node (a link that is not running yet): ask the kernel.
  return kernelLinkOf(ip)?.mtu;
}

/** MTU of the local interface that holds the IPv6 address `ip`, or undefined when none does. */
export function underlayMtu6(ip: string): number | undefined {
  const want = parseIPv6(ip);
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    if (addrs?.some((a) => a.family === 'IPv6' && parseIPv6(a.address) === want)) {
      try {
        return Number(readFileSync(`/sys/class/net/${name}/mtu`, 'utf8').trim());
      } catch {
        return undefined;
      }
    }
  }
  return want === undefined ? undefined : kernelLinkOf(formatIPv6(want), 6)?.mtu;
}

/** A unicast IPv6 address a socket can bind without a scope: not ::, ::1, multicast or link-local. */
function isBindableIpv6(ip: bigint): boolean {
  return ip > 1n && ip >> 120n !== 0xffn && ip >> 118n !== 0x3fan;
}

/** The IPv4 part of resolved options with every field set, or undefined for an IPv6-only data plane. */
export function ipv4Of(o: ResolvedIpv4): { publicIp: string; publicIpNum: number; network: Cidr; subnet: Cidr } | undefined {
  if (o.publicIp === undefined || o.publicIpNum === undefined || !o.network || !o.subnet) return undefined;
  return { publicIp: o.publicIp, publicIpNum: o.publicIpNum, network: o.network, subnet: o.subnet };
}

/** The IPv6 part of resolved options with every field set, or undefined for an IPv4-only data plane. */
export function dualStackOf(
  o: ResolvedIpv6,
): { publicIpBytes: Buffer; network: Cidr6; subnet: Cidr6; mtu: number; vtepMac: string | undefined } | undefined {
  if (!o.publicIpv6Bytes || !o.ipv6Network || !o.ipv6Subnet || o.mtu6 === undefined) return undefined;
  return { publicIpBytes: o.publicIpv6Bytes, network: o.ipv6Network, subnet: o.ipv6Subnet, mtu: o.mtu6, vtepMac: o.vtepMacV6 };
}

const kIpv6Keys = ['publicIpv6', 'ipv6Network', 'ipv6Subnet'] as const;

/**
 * The IPv6 part (dual stack or IPv6-only); all undefined when none of its
 * options is given. `mtu`: the device MTU, or undefined (IPv6-only, no mtu
 * option) to derive it from the IPv6 underlay.
 */
function resolveIpv6(
  options: DataPlaneOptions,
  backend: DataPlaneBackend,
  maxDirectBits: number,
  mtu: number | undefined,
): ResolvedIpv6 & { mtu: number } {
  const given = [...kIpv6Keys, 'vtepMacV6' as const].filter((k) => options[k] !== undefined);
  if (given.length === 0) return { ...kNoIpv6, mtu: mtu! };
  if (backend === 'udp') {
    const key = given[0]!;
    throw invalidOption(`options.${key}`, "absent for the udp backend (flannel's udp backend carries IPv4 only)", options[key]);
  }
  for (const key of kIpv6Keys) {
    if (options[key] === undefined) {
      const others = kIpv6Keys.filter((k) => k !== key).map((k) => `options.${k}`);
      throw invalidOption(`options.${key}`, `given with ${others.join(' and ')} (dual stack needs all three)`, undefined);
    }
  }
  const publicIp = typeof options.publicIpv6 === 'string' ? parseIPv6(options.publicIpv6) : undefined;
  if (publicIp === undefined || !isBindableIpv6(publicIp)) {
    throw invalidOption('options.publicIpv6', 'a unicast IPv6 address (not ::, ::1, multicast or link-local)', options.publicIpv6);
  }
  const network = typeof options.ipv6Network === 'string' ? parseCidr6(options.ipv6Network, { strict: true }) : undefined;
  if (!network || network.prefixLen > 124) {
    throw invalidOption('options.ipv6Network', 'an IPv6 CIDR without host bits, prefix at most /124', options.ipv6Network);
  }
  const subnet = typeof options.ipv6Subnet === 'string' ? parseCidr6(options.ipv6Subnet, { strict: true }) : undefined;
  if (!subnet || subnet.prefixLen > 126) {
    throw invalidOption('options.ipv6Subnet', 'an IPv6 CIDR without host bits, prefix at most /126', options.ipv6Subnet);
  }
  if (!cidr6Contains(network, subnet)) {
    throw invalidOption('options.ipv6Subnet', `a subnet inside options.ipv6Network ${options.ipv6Network}`, options.ipv6Subnet);
  }
  if (subnet.prefixLen - network.prefixLen > maxDirectBits) {
    throw invalidOption(
      'options.ipv6Subnet',
      `at most /${network.prefixLen + maxDirectBits} in a /${network.prefixLen} network (the table holds 2^${maxDirectBits} subnets)`,
      options.ipv6Subnet,
    );
  }
  let vtepMac: string | undefined;
  if (options.vtepMacV6 !== undefined) {
    const bytes = typeof options.vtepMacV6 === 'string' ? parseMac(options.vtepMacV6) : undefined;
    if (!bytes || !isUnicastMac(bytes)) {
      throw invalidOption('options.vtepMacV6', 'a unicast MAC like 0e:2a:0a:f4:01:01', options.vtepMacV6);
    }
    vtepMac = normalizeMac(options.vtepMacV6 as string);
  }
  const text = formatIPv6(publicIp);
  // The kernel clamps an IPv6-underlay VXLAN device to underlay MTU − 70.
  const under6 = underlayMtu6(text);
  if (mtu === undefined) {
    // IPv6-only without an mtu option: the IPv6 underlay's MTU less what the kernel takes off flannel-v6.<vni>.
    if (under6 === undefined) {
      throw invalidOption('options.mtu', `given: publicIpv6 ${text} is on no local interface to derive it from`, undefined);
    }
    mtu = under6 - kVxlanOverhead6;
  }
  // Without an interface to read: dual stack, the IPv4 underlay's MTU stands for it; IPv6-only, the device MTU.
  const ipv6Only = kIpv4Keys.every((k) => options[k] === undefined);
  const mtu6 = under6 === undefined ? (ipv6Only ? mtu : mtu - (kVxlanOverhead6 - 50)) : Math.min(mtu, under6 - kVxlanOverhead6);
  if (mtu6 < kMinMtu6) {
    throw invalidOption(
      'options.mtu',
      `at least ${kMinMtu6} on the IPv6 underlay (IPv6 MTU = min(mtu, underlay MTU − ${kVxlanOverhead6}) is ${mtu6})`,
      options.mtu ?? mtu,
    );
  }
  return {
    mtu,
    publicIpv6: text,
    publicIpv6Bytes: ipv6Bytes(publicIp),
    ipv6Network: network,
    ipv6Subnet: subnet,
    mtu6,
    vtepMacV6: vtepMac,
  };
}

const kNoIpv4: ResolvedIpv4 = Object.freeze({ publicIp: undefined, publicIpNum: undefined, network: undefined, subnet: undefined });
const kIpv4Keys = ['publicIp', 'network', 'subnet'] as const;

/**
 * The IPv4 part: all three of publicIp, network and subnet, or (vxlan with
 * the IPv6 trio) none of them, an IPv6-only data plane (undefined).
 */
function resolveIpv4(
  options: DataPlaneOptions,
  backend: DataPlaneBackend,
  maxDirectBits: number,
): { publicIp: string; publicIpNum: number; network: Cidr; subnet: Cidr } | undefined {
  const given = kIpv4Keys.filter((k) => options[k] !== undefined);
  if (given.length === 0) {
    // IPv6-only: vxlan with publicIpv6, ipv6Network and ipv6Subnet (resolveIpv6 checks all three).
    if (backend === 'vxlan' && kIpv6Keys.some((k) => options[k] !== undefined)) return undefined;
    const why =
      backend === 'udp'
        ? "a unicast IPv4 address (flannel's udp backend carries IPv4 only)"
        : 'a unicast IPv4 address (or, for an IPv6-only data plane, publicIpv6, ipv6Network and ipv6Subnet instead of publicIp, network and subnet)';
    throw invalidOption('options.publicIp', why, undefined);
  }
  for (const key of kIpv4Keys) {
    if (options[key] === undefined) {
      const others = kIpv4Keys.filter((k) => k !== key).map((k) => `options.${k}`);
      throw invalidOption(`options.${key}`, `given with ${others.join(' and ')} (the IPv4 part needs all three)`, undefined);
    }
  }
  const publicIpNum = typeof options.publicIp === 'string' ? parseIPv4(options.publicIp) : undefined;
  if (publicIpNum === undefined || publicIpNum === 0 || publicIpNum >>> 28 >= 14) {
    throw invalidOption('options.publicIp', 'a unicast IPv4 address', options.publicIp);
  }
  const network = typeof options.network === 'string' ? parseCidr(options.network, { strict: true }) : undefined;
  if (!network || network.prefixLen > 30) {
    throw invalidOption('options.network', 'an IPv4 CIDR without host bits, prefix at most /30', options.network);
  }
  const subnet = typeof options.subnet === 'string' ? parseCidr(options.subnet, { strict: true }) : undefined;
  if (!subnet || subnet.prefixLen > 30) {
    throw invalidOption('options.subnet', 'an IPv4 CIDR without host bits, prefix at most /30', options.subnet);
  }
  if (!cidrContains(network, subnet)) {
    throw invalidOption('options.subnet', `a subnet inside options.network ${options.network}`, options.subnet);
  }
  if (subnet.prefixLen - network.prefixLen > maxDirectBits) {
    throw invalidOption(
      'options.subnet',
      `at most /${network.prefixLen + maxDirectBits} in a /${network.prefixLen} network (the table holds 2^${maxDirectBits} subnets)`,
      options.subnet,
    );
  }
  return { publicIp: formatIPv4(publicIpNum), publicIpNum, network, subnet };
}

export function resolveOptions(options: DataPlaneOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw invalidOption('options', 'an object', options);
  // Queues, table bits, overheads and offload names are the addon's (native/core), read from it.
  const { maxQueues: kMaxQueues, maxDirectBits: kMaxDirectBits, overhead, offloadOptions } = loadAddon().limits;
  const kOffloadOptions = offloadOptions as (keyof OffloadOptions)[];
  for (const key of Object.keys(options)) {
    if (!kKnown.has(key))
      throw invalidOption(`options.${key}`, 'absent (unknown option)', (options as unknown as Record<string, unknown>)[key]);
  }
  const backend = options.backend;
  if (backend !== 'udp' && backend !== 'vxlan') throw invalidOption('options.backend', '"udp" or "vxlan"', backend);

  const ipv4 = resolveIpv4(options, backend, kMaxDirectBits);

  const vni = options.vni === undefined ? 1 : int('vni', options.vni, 0, kMaxVni);
  if (backend === 'udp' && options.vni !== undefined) throw invalidOption('options.vni', 'absent for the udp backend', options.vni);
  let vtepMac: string | undefined;
  if (options.vtepMac !== undefined) {
    if (backend === 'udp') throw invalidOption('options.vtepMac', 'absent for the udp backend', options.vtepMac);
    const bytes = typeof options.vtepMac === 'string' ? parseMac(options.vtepMac) : undefined;
    if (!bytes || !isUnicastMac(bytes)) {
      throw invalidOption('options.vtepMac', 'a unicast MAC like 0e:2a:0a:f4:01:00', options.vtepMac);
    }
    vtepMac = normalizeMac(options.vtepMac as string);
  }

  // IPv6-only vxlan: kernel flannel's only device in that mode is flannel-v6.<vni>.
  const device = options.device ?? (backend === 'udp' ? 'flannel0' : ipv4 ? `flannel.${vni}` : `flannel-v6.${vni}`);
  if (typeof device !== 'string' || !kDeviceName.test(device)) {
    throw invalidOption('options.device', 'an interface name of 1-15 letters, digits, "_", "." or "-"', device);
  }
  const port = options.port === undefined ? kDefaultPort[backend] : int('port', options.port, 1, 65535);

  let mtu: number | undefined;
  if (options.mtu !== undefined) {
    mtu = int('mtu', options.mtu, 576, 65535 - overhead[backend]);
  } else if (ipv4) {
    const under = underlayMtu(ipv4.publicIp);
    if (under === undefined) {
      throw invalidOption('options.mtu', `given: publicIp ${ipv4.publicIp} is on no local interface to derive it from`, undefined);
    }
    mtu = under - overhead[backend];
  }
  if (mtu !== undefined && mtu < 576) throw invalidOption('options.mtu', 'at least 576 (the underlay MTU is too small)', mtu);
  // IPv6-only without an mtu option: resolveIpv6 derives it from the IPv6 underlay.
  const { mtu: deviceMtu, ...ipv6 } = resolveIpv6(options, backend, kMaxDirectBits, mtu);

  const queues = options.queues === undefined ? Math.min(availableParallelism(), 4) : int('queues', options.queues, 1, kMaxQueues);
  const socketBuffer = options.socketBuffer === undefined ? 4 << 20 : int('socketBuffer', options.socketBuffer, 65536, 1 << 30);
  if (options.tablePath !== undefined && (typeof options.tablePath !== 'string' || !options.tablePath.startsWith('/'))) {
    throw invalidOption('options.tablePath', 'an absolute path', options.tablePath);
  }
  const tablePath = options.tablePath ?? defaultTablePath(device);
  const given = options.offloads ?? {};
  if (typeof given !== 'object' || given === null) throw invalidOption('options.offloads', 'an object', given);
  const offloads = {} as Record<keyof OffloadOptions, boolean>;
  for (const key of Object.keys(given)) {
    if (!(kOffloadOptions as string[]).includes(key)) {
      throw invalidOption(
        `options.offloads.${key}`,
        `absent (known: ${kOffloadOptions.join(', ')})`,
        (given as Record<string, unknown>)[key],
      );
    }
  }
  for (const key of kOffloadOptions) offloads[key] = bool(`offloads.${key}`, given[key], true);

  return Object.freeze({
    backend,
    device,
    ...(ipv4 ?? kNoIpv4),
    port,
    vni,
    vtepMac,
    ...ipv6,
    mtu: deviceMtu,
    queues,
    tablePath,
    persist: bool('persist', options.persist, false),
    allowUnknownPeers: bool('allowUnknownPeers', options.allowUnknownPeers, false),
    checkInnerSource: bool('checkInnerSource', options.checkInnerSource, false),
    configureDevice: bool('configureDevice', options.configureDevice, true),
    socketBuffer,
    pollBudgetUs: options.pollBudgetUs === undefined ? 200 : int('pollBudgetUs', options.pollBudgetUs, 0, 10_000),
    offloads: Object.freeze(offloads),
  });
}

export { randomMac, maskOf };
