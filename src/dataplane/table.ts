// The lease-to-VTEP table as the library shows it: entries in, entries out,
// in the pinned shapes of design §10. The bytes live in shared memory
// (native/core/table_format.h); this class only converts and validates.

import { invalidOption } from '../errors';
import { cidrContains, formatCidr, parseCidr, type Cidr } from '../net/cidr';
import { formatIPv4, parseIPv4 } from '../net/ip';
import { formatMac, isUnicastMac, parseMac } from '../net/mac';
import { BackendId, backendName, type BackendName, type NativeEntry, type NativeTable } from './native';

/** One row of the table: a peer's lease and where to send its traffic. */
export interface TableEntry {
  /** The peer's lease, e.g. `10.244.2.0/24`. */
  subnet: string;
  /** The peer node's underlay address. */
  publicIp: string;
  /** The peer's VTEP MAC: required for vxlan entries, absent for udp ones. */
  vtepMac?: string;
  /** The backend the entry belongs to; defaults to the data plane's. */
  backend?: BackendName;
}

export function entryFromNative(e: NativeEntry): TableEntry {
  const out: TableEntry = {
    subnet: formatCidr({ ip: e.subnet, prefixLen: e.prefixLen }),
    publicIp: e.family === 4 ? formatIPv4(e.publicIp.readUInt32BE(0)) : e.publicIp.toString('hex'),
  };
  if (e.vtepMac) out.vtepMac = formatMac(e.vtepMac);
  const backend = backendName(e.backend);
  if (backend) out.backend = backend;
  return out;
}

function byAddress(a: TableEntry, b: TableEntry): number {
  const pa = parseCidr(a.subnet)!;
  const pb = parseCidr(b.subnet)!;
  return pa.ip - pb.ip || pa.prefixLen - pb.prefixLen;
}

export class LeaseTable {
  readonly #native: () => NativeTable;
  readonly #backend: BackendName;
  readonly #network: Cidr;

  /** @internal */
  constructor(native: () => NativeTable, backend: BackendName, network: Cidr) {
    this.#native = native;
    this.#backend = backend;
    this.#network = network;
  }

  /** Adds or replaces the entry for `entry.subnet`; the hot path sees it at once. */
  set(entry: TableEntry): void {
    if (typeof entry !== 'object' || entry === null) throw invalidOption('entry', 'an object', entry);
    const subnet = typeof entry.subnet === 'string' ? parseCidr(entry.subnet, { strict: true }) : undefined;
    if (!subnet) throw invalidOption('entry.subnet', 'an IPv4 CIDR without host bits', entry.subnet);
    if (!cidrContains(this.#network, subnet)) {
      throw invalidOption('entry.subnet', `a subnet inside the network ${formatCidr(this.#network)}`, entry.subnet);
    }
    const ip = typeof entry.publicIp === 'string' ? parseIPv4(entry.publicIp) : undefined;
    if (ip === undefined || ip === 0) throw invalidOption('entry.publicIp', 'a unicast IPv4 address', entry.publicIp);
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
    const publicIp = Buffer.alloc(4);
    publicIp.writeUInt32BE(ip);
    // A full table throws ERR_WEFT_TABLE_FULL, any other failure ERR_WEFT_TABLE (from the addon).
    this.#native().set(subnet.ip, subnet.prefixLen, publicIp, mac, BackendId[backend]);
  }

  /** Removes the entry for `subnet`; false when there was none. */
  delete(subnet: string): boolean {
    const cidr = typeof subnet === 'string' ? parseCidr(subnet, { strict: true }) : undefined;
    if (!cidr) throw invalidOption('subnet', 'an IPv4 CIDR without host bits', subnet);
    return this.#native().delete(cidr.ip, cidr.prefixLen);
  }

  /** What the hot path sees now, ordered by address. */
  entries(): TableEntry[] {
    return this.#native().entries().map(entryFromNative).sort(byAddress);
  }

  /** The entry the hot path would use for destination `ip`, if any. */
  lookup(ip: string): TableEntry | undefined {
    const n = parseIPv4(ip);
    if (n === undefined) throw invalidOption('ip', 'an IPv4 address', ip);
    const e = this.#native().lookup(n);
    return e ? entryFromNative(e) : undefined;
  }

  get size(): number {
    return this.#native().header().entryCount;
  }
}
