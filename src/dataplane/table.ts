// The lease-to-VTEP table as the library shows it: entries in, entries out,
// in the pinned shapes of design §10. The bytes live in shared memory
// (native/core/table_format.h); this class only converts and validates.
// A dual-stack table holds IPv4 and IPv6 leases in the same shape: the
// family is the subnet's.

import { invalidOption } from '../errors';
import { cidrContains, formatCidr, parseCidr, type Cidr } from '../net/cidr';
import { cidr6Contains, formatCidr6, parseCidr6, type Cidr6 } from '../net/cidr6';
import { formatIPv4, parseIPv4 } from '../net/ip';
import { formatIPv6, ipv6Bytes, ipv6FromBytes, parseIPv6 } from '../net/ip6';
import { formatMac, isUnicastMac, parseMac } from '../net/mac';
import { BackendId, backendName, type BackendName, type NativeAddress, type NativeEntry, type NativeTable } from './native';

/** One row of the table: a peer's lease and where to send its traffic. */
export interface TableEntry {
  /** The peer's lease, e.g. `10.244.2.0/24`, or an IPv6 one, e.g. `fc00:0:0:2::/64`. */
  subnet: string;
  /** The peer node's underlay address: its PublicIP, or its PublicIPv6 for an IPv6 lease. */
  publicIp: string;
  /** The peer's VTEP MAC (BackendData, or BackendV6Data for an IPv6 lease): required for vxlan entries, absent for udp ones. */
  vtepMac?: string;
  /** The backend the entry belongs to; defaults to the data plane's. */
  backend?: BackendName;
}

export function entryFromNative(e: NativeEntry): TableEntry {
  const out: TableEntry = {
    subnet:
      e.subnetFamily === 6
        ? formatCidr6({ ip: ipv6FromBytes(e.subnet6), prefixLen: e.prefixLen })
        : formatCidr({ ip: e.subnet, prefixLen: e.prefixLen }),
    publicIp: e.family === 4 ? formatIPv4(e.publicIp.readUInt32BE(0)) : formatIPv6(ipv6FromBytes(e.publicIp)),
  };
  if (e.vtepMac) out.vtepMac = formatMac(e.vtepMac);
  const backend = backendName(e.backend);
  if (backend) out.backend = backend;
  return out;
}

/** A lease or address of either family, as the addon takes it. */
type Parsed = { family: 4; cidr: Cidr; native: number } | { family: 6; cidr: Cidr6; native: Buffer };

function parseSubnet(text: unknown): Parsed | undefined {
  if (typeof text !== 'string') return undefined;
  const v4 = parseCidr(text, { strict: true });
  if (v4) return { family: 4, cidr: v4, native: v4.ip };
  const v6 = parseCidr6(text, { strict: true });
  return v6 ? { family: 6, cidr: v6, native: ipv6Bytes(v6.ip) } : undefined;
}

function parseAddress(text: unknown): NativeAddress | undefined {
  if (typeof text !== 'string') return undefined;
  const v4 = parseIPv4(text);
  if (v4 !== undefined) return v4;
  const v6 = parseIPv6(text);
  return v6 === undefined ? undefined : ipv6Bytes(v6);
}

/** IPv4 leases first, then IPv6, each by address and prefix length. */
function sortKey(e: TableEntry): [number, bigint, number] {
  const p = parseSubnet(e.subnet)!;
  return [p.family, BigInt(p.cidr.ip), p.cidr.prefixLen];
}

function byAddress(a: TableEntry, b: TableEntry): number {
  const [fa, ia, la] = sortKey(a);
  const [fb, ib, lb] = sortKey(b);
  return fa - fb || (ia < ib ? -1 : ia > ib ? 1 : 0) || la - lb;
}

export class LeaseTable {
  readonly #native: () => NativeTable;
  readonly #backend: BackendName;
  readonly #network: Cidr | undefined;
  readonly #network6: Cidr6 | undefined;

  /** @internal `network` absent: an IPv6-only table; `network6` absent: IPv4 only. */
  constructor(native: () => NativeTable, backend: BackendName, network: Cidr | undefined, network6?: Cidr6) {
    this.#native = native;
    this.#backend = backend;
    this.#network = network;
    this.#network6 = network6;
  }

  /** Adds or replaces the entry for `entry.subnet`; the hot path sees it at once. */
  set(entry: TableEntry): void {
    if (typeof entry !== 'object' || entry === null) throw invalidOption('entry', 'an object', entry);
    const subnet = parseSubnet(entry.subnet);
    if (!subnet) throw invalidOption('entry.subnet', 'an IPv4 or IPv6 CIDR without host bits', entry.subnet);
    let publicIp: Buffer;
    if (subnet.family === 4) {
      if (!this.#network || !cidrContains(this.#network, subnet.cidr)) {
        const where = this.#network ? `the network ${formatCidr(this.#network)}` : 'an IPv4 network (this table has none)';
        throw invalidOption('entry.subnet', `a subnet inside ${where}`, entry.subnet);
      }
      const ip = typeof entry.publicIp === 'string' ? parseIPv4(entry.publicIp) : undefined;
      if (ip === undefined || ip === 0) throw invalidOption('entry.publicIp', 'a unicast IPv4 address', entry.publicIp);
      publicIp = Buffer.alloc(4);
      publicIp.writeUInt32BE(ip);
    } else {
      const len = this.#native().header().subnet6Len;
      if (!this.#network6 || !cidr6Contains(this.#network6, subnet.cidr) || subnet.cidr.prefixLen !== len) {
        const where = this.#network6
          ? `a /${len} inside the IPv6 network ${formatCidr6(this.#network6)}`
          : 'an IPv4 subnet (this table has no IPv6 network)';
        throw invalidOption('entry.subnet', where, entry.subnet);
      }
      const ip = typeof entry.publicIp === 'string' ? parseIPv6(entry.publicIp) : undefined;
      if (ip === undefined || ip === 0n || ip >> 120n === 0xffn) {
        throw invalidOption('entry.publicIp', "a unicast IPv6 address (the peer's PublicIPv6)", entry.publicIp);
      }
      publicIp = ipv6Bytes(ip);
    }
    const backend = entry.backend ?? this.#backend;
    if (!(backend in BackendId)) throw invalidOption('entry.backend', '"udp", "vxlan" or "host-gw"', backend);
    let mac: Buffer | null = null;
    if (backend === 'vxlan') {
      const bytes = typeof entry.vtepMac === 'string' ? parseMac(entry.vtepMac) : undefined;
      if (!bytes || !isUnicastMac(bytes)) {
        throw invalidOption('entry.vtepMac', 'a unicast MAC (required for vxlan entries)', entry.vtepMac);
      }
      mac = bytes;
    } else if (entry.vtepMac !== undefined) {
      throw invalidOption('entry.vtepMac', `absent for ${backend} entries`, entry.vtepMac);
    }
    // A full table throws ERR_WEFT_TABLE_FULL, any other failure ERR_WEFT_TABLE (from the addon).
    this.#native().set(subnet.native, subnet.cidr.prefixLen, publicIp, mac, BackendId[backend]);
  }

  /** Removes the entry for `subnet`; false when there was none. */
  delete(subnet: string): boolean {
    const parsed = parseSubnet(subnet);
    if (!parsed) throw invalidOption('subnet', 'an IPv4 or IPv6 CIDR without host bits', subnet);
    return this.#native().delete(parsed.native, parsed.cidr.prefixLen);
  }

  /** What the hot path sees now: IPv4 leases, then IPv6 ones, ordered by address. */
  entries(): TableEntry[] {
    return this.#native().entries().map(entryFromNative).sort(byAddress);
  }

  /** The entry the hot path would use for destination `ip` (IPv4 or IPv6), if any. */
  lookup(ip: string): TableEntry | undefined {
    const n = parseAddress(ip);
    if (n === undefined) throw invalidOption('ip', 'an IPv4 or IPv6 address', ip);
    const e = this.#native().lookup(n);
    return e ? entryFromNative(e) : undefined;
  }

  get size(): number {
    return this.#native().header().entryCount;
  }
}
