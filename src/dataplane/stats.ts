// The one shape shared by `dp.stats()` and `weft table --json` (design §10).

import { formatCidr } from '../net/cidr';
import { formatCidr6 } from '../net/cidr6';
import { ipv6FromBytes } from '../net/ip6';
import { formatMac } from '../net/mac';
import { backendName, loadAddon, type NativeTable } from './native';
import { entryFromNative, type TableEntry } from './table';

export interface DataPlaneStats {
  layoutVersion: number;
  generation: number;
  device: string;
  backend: string;
  tablePath: string;
  network: string;
  subnet: string;
  vtepMac?: string;
  /** Dual stack: the IPv6 network, the own IPv6 lease and (vxlan) the VtepMAC of IPv6 frames. */
  ipv6Network?: string;
  ipv6Subnet?: string;
  vtepMacV6?: string;
  mtu: number;
  port: number;
  vni: number;
  queues: number;
  writerPid: number;
  entries: TableEntry[];
  counters: Record<string, number>;
  drops: Record<string, number>;
  offloads: Record<string, boolean | number>;
}

export function snapshot(native: NativeTable, tablePath: string): DataPlaneStats {
  const h = native.header();
  const { counters, drops } = native.counters();
  const backend = backendName(h.backend) ?? 'unknown';
  const offloads: Record<string, boolean> = {};
  // Offload bits in the order the engine records them (native/core/offload.h kOffloadNames).
  loadAddon().limits.offloadBits.forEach((name, bit) => {
    offloads[name] = (h.offloads & (2 ** bit)) !== 0;
  });
  const stats: DataPlaneStats = {
    layoutVersion: h.layoutVersion,
    generation: h.generation,
    device: h.device,
    backend,
    tablePath,
    network: formatCidr({ ip: h.network, prefixLen: h.networkPrefixLen }),
    subnet: formatCidr({ ip: h.ownSubnet, prefixLen: h.subnetLen }),
    mtu: h.mtu,
    port: h.port,
    vni: h.vni,
    queues: h.queues,
    writerPid: h.writerPid,
    entries: native.entries().map(entryFromNative),
    counters,
    drops,
    offloads,
  };
  if (backend === 'vxlan') stats.vtepMac = formatMac(h.ownMac);
  if (h.subnet6Len !== 0) {
    stats.ipv6Network = formatCidr6({ ip: ipv6FromBytes(h.network6), prefixLen: h.network6PrefixLen });
    stats.ipv6Subnet = formatCidr6({ ip: ipv6FromBytes(h.ownSubnet6), prefixLen: h.subnet6Len });
    if (backend === 'vxlan') stats.vtepMacV6 = formatMac(h.ownMac6);
  }
  return stats;
}

/** Reads another process's table (read-only mapping): `weft table`. */
export function readTable(tablePath: string): DataPlaneStats {
  const addon = loadAddon();
  const native = new addon.NativeTable(tablePath, null); // ERR_WEFT_TABLE "cannot read table …" when it fails
  try {
    return snapshot(native, tablePath);
  } finally {
    native.close();
  }
}
