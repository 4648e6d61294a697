// The one shape shared by `dp.stats()` and `weft table --json` (design §10).

import { formatCidr } from '../net/cidr';
import { formatMac } from '../net/mac';
import { ErrorCode, WeftError } from '../errors';
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

/** Offload bits the engine records in the table header, in bit order (native/core/offload.h OffloadBit). */
export const kOffloadBits: readonly string[] = ['vnetHdr', 'tso', 'uso', 'udpGso', 'udpGro', 'coalesce', 'srcPorts'];

export function snapshot(native: NativeTable, tablePath: string): DataPlaneStats {
  const h = native.header();
  const { counters, drops } = native.counters();
  const backend = backendName(h.backend) ?? 'unknown';
  const offloads: Record<string, boolean> = {};
  kOffloadBits.forEach((name, bit) => {
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
  return stats;
}

/** Reads another process's table (read-only mapping): `weft table`. */
export function readTable(tablePath: string): DataPlaneStats {
  const addon = loadAddon();
  let native: NativeTable;
  try {
    native = new addon.NativeTable(tablePath, null);
  } catch (cause) {
    throw new WeftError(ErrorCode.TABLE, `cannot read table ${tablePath}: ${(cause as Error).message}`, { cause });
  }
  try {
    return snapshot(native, tablePath);
  } finally {
    native.close();
  }
}
