// The only module that loads the addon. It checks, once, that the addon's
// table layout is the one this TypeScript was written for, and hands it the
// error class it throws (WeftError with the codes of src/errors.ts).

import { join } from 'node:path';
import { ErrorCode, WeftError } from '../errors';

/** Geometry of a table: what must match for a writer to keep a file's entries. */
export interface NativeGeometry {
  network: number;
  networkPrefixLen: number;
  subnetLen: number;
  backend: number;
  /** The IPv6 part (dual stack): IPv6Network and IPv6SubnetLen; absent: none. */
  network6?: Buffer;
  network6PrefixLen?: number;
  subnet6Len?: number;
}

/** An address as the addon takes it: IPv4 as a number (host order), IPv6 as 16 bytes. */
export type NativeAddress = number | Buffer;

export interface NativeEntry {
  /** Which of `subnet` (4) and `subnet6` (6) holds the lease. */
  subnetFamily: 4 | 6;
  subnet: number;
  subnet6: Buffer;
  prefixLen: number;
  backend: number;
  family: 4 | 6;
  publicIp: Buffer;
  vtepMac?: Buffer;
}

export interface NativeHeader {
  layoutVersion: number;
  generation: number;
  entryCount: number;
  network: number;
  networkPrefixLen: number;
  subnetLen: number;
  backend: number;
  directSlots: number;
  overflowSlots: number;
  fileSize: number;
  ownSubnet: number;
  vni: number;
  port: number;
  mtu: number;
  ownMac: Buffer;
  device: string;
  writerPid: number;
  queues: number;
  offloads: number;
  createdUnixMs: number;
  network6: Buffer;
  network6PrefixLen: number;
  /** 0: the table has no IPv6 part. */
  subnet6Len: number;
  direct6Slots: number;
  ownSubnet6: Buffer;
  ownMac6: Buffer;
}

export interface NativeCounters {
  counters: Record<string, number>;
  drops: Record<string, number>;
}

export interface NativeTable {
  reattached(): boolean;
  header(): NativeHeader;
  setInfo(ownSubnet: number, vni: number, port: number, mtu: number, mac: Buffer, device: string): void;
  setInfo6(ownSubnet6: Buffer, mac6: Buffer): void;
  set(subnet: NativeAddress, prefixLen: number, publicIp: Buffer, vtepMac: Buffer | null, backend: number): void;
  delete(subnet: NativeAddress, prefixLen: number): boolean;
  entries(): NativeEntry[];
  lookup(dst: NativeAddress): NativeEntry | null;
  isPeer(ip: NativeAddress): boolean;
  counters(): NativeCounters;
  close(): void;
}

export interface NativeEngineConfig {
  device: string;
  queues: number;
  persist: boolean;
  configureDevice: boolean;
  /** The IPv4 part (bindIp, deviceAddr, network); false: an IPv6-only plane. Default true. */
  ipv4?: boolean;
  deviceAddr: number;
  mtu: number;
  network: number;
  networkPrefixLen: number;
  bindIp: number;
  port: number;
  socketBuffer: number;
  pollBudgetUs: number;
  backend: number;
  vni: number;
  ownMac: Buffer;
  checkPeers: boolean;
  checkInnerSource: boolean;
  vnetHdr: boolean;
  tso: boolean;
  uso: boolean;
  udpGso: boolean;
  udpGro: boolean;
  coalesce: boolean;
  /** Dual stack (vxlan): IPv6 over the IPv6 underlay on the same device. Buffers of 16 bytes, network order. */
  ipv6?: boolean;
  bindIp6?: Buffer;
  deviceAddr6?: Buffer;
  network6?: Buffer;
  network6PrefixLen?: number;
  /** The device's IPv6 MTU (at most mtu). */
  mtu6?: number;
  ownMac6?: Buffer;
  /** Fds handed over by a predecessor; the engine owns them once given. */
  adoptTun?: number[];
  adoptUdp?: number[];
  adoptSend?: number[];
  adoptUdp6?: number[];
  adoptSend6?: number[];
}

/** A running engine's TUN queues and sockets (still owned by the engine). */
export interface NativeEngineFds {
  tun: number[];
  udp: number[];
  send: number[];
  /** Dual stack: one IPv6 receiving socket and one IPv6 sending socket per queue (absent or empty without IPv6). */
  udp6?: number[];
  send6?: number[];
}

export interface NativeEngine {
  stop(): void;
  fatalErrno(): number;
  fds(): NativeEngineFds;
}

/** fd passing for a hand-off (native/core/handoff.h); synchronous, throws WeftError(HANDOFF). */
export interface NativeHandoff {
  sendFds(socketFd: number, fds: number[], description: string, timeoutMs: number): void;
  takeOver(path: string, timeoutMs: number): { fds: number[]; description: string };
  notify(socketPath: string, state: string, fds: number[]): void;
  closeFds(fds: number[]): void;
}

export type CodecVerdict = { verdict: 'forward'; packet: Buffer } | { verdict: Exclude<string, 'forward'>; packet?: undefined };

export interface NativeCodec {
  udpEncap(ip: Buffer): CodecVerdict;
  udpDecap(payload: Buffer): CodecVerdict;
  vxlanEncap(ip: Buffer, vni: number, dstMac: Buffer, srcMac: Buffer): CodecVerdict;
  vxlanDecap(payload: Buffer, vni: number, ownMac: Buffer): CodecVerdict;
  netUnreachable(offender: Buffer, srcIp: number): Buffer | null;
  checksum(data: Buffer): number;
  benchCodec(kind: 'udp' | 'vxlan' | 'tso', ip: Buffer, iterations: number): { ns: number; sink: number };
  /** Segment() on a super-packet: each segment as one Buffer (`prefix` zero bytes, headers, payload). */
  segment(superPacket: Buffer, vnet: VnetIn, prefix: number): { verdict: string; segments?: Buffer[] };
  /**
   * The TUN writes the receive pipeline's coalescing stage (Decapsulator::Deliver) makes for one GRO'd
   * batch of inner packets. With `udp`, UDP flows merge too (as when the TUN took USO).
   */
  coalesce(packets: Buffer[], udp?: boolean): { writes: TunWrite[] };
  /** One received message through the whole receive pipeline (Decapsulator::Receive) against `table`. */
  receive(message: Buffer, config: ReceiveConfig, table: NativeTable): { writes: TunWrite[]; counts: Record<string, number> };
  /** One TUN read through the whole send pipeline (Encapsulator::Encapsulate) against `table`. */
  encapsulate(
    read: Buffer,
    config: { backend: number; vni: number; ownMac: Buffer; ownMac6?: Buffer; vnetHdr: boolean },
    table: NativeTable,
  ): {
    verdict: string;
    /** The underlay family (4 or 6) and the peer's 4- or 16-byte address. */
    family?: 4 | 6;
    peer?: Buffer;
    datagrams?: Buffer[];
    icmp?: Buffer;
    counts: Record<string, number>;
  };
}

/** One TUN write: the virtio_net_hdr decoded, the packet bytes joined. */
export interface TunWrite {
  vnet: VnetOut;
  packet: Buffer;
}

export interface ReceiveConfig {
  backend: number;
  vni: number;
  ownMac: Buffer;
  checkPeers: boolean;
  checkInnerSource: boolean;
  coalesce: boolean;
  coalesceUdp: boolean;
  /** A run may go on into the next message of the batch (the worker's setting with coalesce). */
  coalesceBatch?: boolean;
  /** The message is several of one receive batch, back to back, of these lengths (flushed after the last). */
  messageLengths?: number[];
  /** UDP_GRO segment size of the message (0: one datagram). */
  gsoSize: number;
  /** The outer source address (host order). */
  outerSrc: number;
  /** From the IPv6 underlay instead: the outer source (16 bytes); ownMac is then the IPv6 frames' MAC. */
  outerSrc6?: Buffer;
}

/** virtio_net_hdr fields as read from the TUN (hdr_len is recomputed, so absent). */
export interface VnetIn {
  flags: number;
  gsoType: number;
  gsoSize: number;
  csumStart: number;
  csumOffset: number;
}

/** virtio_net_hdr fields of a TUN write. */
export interface VnetOut extends VnetIn {
  hdrLen: number;
}

export interface NativeLayout {
  magic: bigint;
  version: number;
  headerSize: number;
  entrySize: number;
  counterCount: number;
  counterBlocks: number;
  overflowSlots: number;
  maxDirectBits: number;
  maxQueues: number;
  maxPacket: number;
}

/** Limits defined in the addon (native/core: limits.h, table_format.h, packet.h, offload.h), read, not retyped. */
export interface NativeLimits {
  maxQueues: number;
  maxDirectBits: number;
  maxPacket: number;
  /** Bytes each encapsulation adds to an inner packet (outer IPv4 + UDP [+ VXLAN + Ethernet]). */
  overhead: { udp: number; vxlan: number };
  /** Offload names in the bit order of the table header's `offloads`. */
  offloadBits: string[];
  /** The offloads DataPlaneOptions.offloads can switch off. */
  offloadOptions: string[];
}

export interface Addon {
  NativeTable: new (path: string, geometry: NativeGeometry | null) => NativeTable;
  NativeEngine: new (config: NativeEngineConfig, table: NativeTable) => NativeEngine;
  codec: NativeCodec;
  handoff: NativeHandoff;
  layout: NativeLayout;
  limits: NativeLimits;
  /** The ErrorCode keys the addon raises (native/core/status.h ErrorKind). */
  errorKinds: string[];
  /** Hands the error class and codes to the addon, which then throws WeftErrors itself. */
  configureErrors(errors: { WeftError: typeof WeftError; ErrorCode: typeof ErrorCode }): void;
}

/** The table layout this TypeScript understands (native/core/table_format.h). */
export const kExpectedLayout = {
  magic: 0x004c425454464557n, // "WEFTTBL\0"
  version: 2,
  headerSize: 4096,
  entrySize: 64,
} as const;

export const BackendId = { udp: 1, vxlan: 2, 'host-gw': 3 } as const;
export type BackendName = keyof typeof BackendId;

export function backendName(id: number): BackendName | undefined {
  return (Object.keys(BackendId) as BackendName[]).find((k) => BackendId[k] === id);
}

let cached: Addon | undefined;

export function loadAddon(): Addon {
  if (cached) return cached;
  // WEFT_ADDON_DIR points at another build (a sanitizer build, a developer's
  // private copy); by default the addon is the one built in this package.
  const root = process.env.WEFT_ADDON_DIR || join(__dirname, '..', '..', '..');
  let addon: Addon;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    addon = require('node-gyp-build')(root) as Addon;
  } catch (cause) {
    throw new WeftError(
      ErrorCode.ADDON,
      `cannot load weft's native addon from ${root}/build: ${(cause as Error).message}. ` +
        'Build it with `npm install` (needs python3, make and g++) or `npm run build:native`.',
      { cause },
    );
  }
  const l = addon.layout;
  for (const key of Object.keys(kExpectedLayout) as (keyof typeof kExpectedLayout)[]) {
    if (l[key] !== kExpectedLayout[key]) {
      throw new WeftError(
        ErrorCode.ADDON,
        `native addon table layout ${key}=${String(l[key])} but this code expects ${String(kExpectedLayout[key])}: ` +
          'rebuild the addon (`npm run build:native`)',
      );
    }
  }
  // From here on the addon throws WeftError with the stable codes itself
  // (native/binding/errors.h): nothing above it re-classifies native errors.
  addon.configureErrors({ WeftError, ErrorCode });
  cached = addon;
  return addon;
}
