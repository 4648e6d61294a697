// DataPlane: the library's entry point (design §7).
//
//   const dp = await DataPlane.open({ backend: 'vxlan', publicIp, network, subnet });
//   dp.table.set({ subnet: '10.244.2.0/24', publicIp: '198.18.0.2', vtepMac: '…' });
//   dp.stats(); await dp.close();
//
// open() validates every option before it touches the host, then: table
// (create or re-attach) -> TUN device, address, MTU, route -> UDP sockets ->
// worker threads. If a step fails, what the earlier steps made is undone.

import { unlinkSync } from 'node:fs';
import { ErrorCode, WeftError } from '../errors';
import { formatMac, parseMac } from '../net/mac';
import { formatIPv4 } from '../net/ip';
import { formatIPv6, ipv6Bytes } from '../net/ip6';
import { BackendId, loadAddon, type NativeEngine, type NativeEngineFds, type NativeTable } from './native';
import { dualStackOf, ipv4Of, maskOf, randomMac, resolveOptions, type DataPlaneOptions, type ResolvedOptions } from './options';
import { snapshot, type DataPlaneStats } from './stats';
import { LeaseTable } from './table';

export class DataPlane {
  readonly options: ResolvedOptions;
  /** The VTEP MAC in use (vxlan); undefined for udp. */
  readonly vtepMac: string | undefined;
  /** The VTEP MAC of IPv6 frames (dual stack: the lease's BackendV6Data); undefined without IPv6. */
  readonly vtepMacV6: string | undefined;
  /** True when open() found and kept a table from an earlier run. */
  readonly reattached: boolean;
  readonly table: LeaseTable;
  #native: NativeTable | undefined;
  #engine: NativeEngine | undefined;

  private constructor(
    options: ResolvedOptions,
    native: NativeTable,
    engine: NativeEngine,
    vtepMac: string | undefined,
    vtepMacV6: string | undefined,
  ) {
    this.options = options;
    this.#native = native;
    this.#engine = engine;
    this.vtepMac = vtepMac;
    this.vtepMacV6 = vtepMacV6;
    this.reattached = native.reattached();
    this.table = new LeaseTable(() => this.#live(), options.backend, options.network, options.ipv6Network);
  }

  /**
   * Opens (or re-attaches) the data plane. `adopt`: TUN queues and sockets a
   * predecessor handed over (see handoff.ts), used instead of opening new
   * ones; they belong to the data plane from this call on, also when it fails.
   */
  static async open(options: DataPlaneOptions, adopt?: NativeEngineFds): Promise<DataPlane> {
    const addon = loadAddon();
    let o: ResolvedOptions;
    let native: NativeTable;
    let v6: ReturnType<typeof dualStackOf>;
    let v4: ReturnType<typeof ipv4Of>;
    try {
      o = resolveOptions(options);
      v6 = dualStackOf(o);
      v4 = ipv4Of(o);
      // Native failures arrive as WeftError with their code, option and a
      // sentence naming the path, device or address (native/binding/errors.h).
      // IPv6-only: an empty IPv4 geometry (network 0/0, subnet length 0) holds no IPv4 lease.
      native = new addon.NativeTable(o.tablePath, {
        network: v4?.network.ip ?? 0,
        networkPrefixLen: v4?.network.prefixLen ?? 0,
        subnetLen: v4?.subnet.prefixLen ?? 0,
        backend: BackendId[o.backend],
        ...(v6
          ? {
              network6: ipv6Bytes(v6.network.ip),
              network6PrefixLen: v6.network.prefixLen,
              subnet6Len: v6.subnet.prefixLen,
            }
          : {}),
      });
    } catch (err) {
      if (adopt) addon.handoff.closeFds([...adopt.tun, ...adopt.udp, ...adopt.send, ...(adopt.udp6 ?? []), ...(adopt.send6 ?? [])]);
      throw err;
    }
    const reattached = native.reattached();
    // A restarted vxlan node keeps its VtepMAC: peers know it from its lease.
    let vtepMac: string | undefined;
    if (o.backend === 'vxlan') {
      const kept = native.header().ownMac;
      vtepMac = o.vtepMac ?? (!v4 ? v6?.vtepMac : undefined) ?? (reattached && kept.some((b) => b !== 0) ? formatMac(kept) : randomMac());
    }
    const mac = vtepMac ? parseMac(vtepMac)! : Buffer.alloc(6);
    native.setInfo(v4?.subnet.ip ?? 0, o.backend === 'vxlan' ? o.vni : 0, o.port, o.mtu, mac, o.device);
    // Dual stack: the IPv6 frames' MAC is kept the same way (a lease's BackendV6Data).
    let vtepMacV6: string | undefined;
    let mac6: Buffer = Buffer.alloc(6);
    if (v6) {
      const kept6 = native.header().ownMac6;
      // IPv6-only: the device has one MAC (flannel-v6.<vni>'s): vtepMacV6 defaults to vtepMac.
      vtepMacV6 =
        v6.vtepMac ?? (!v4 ? vtepMac : undefined) ?? (reattached && kept6 && kept6.some((b) => b !== 0) ? formatMac(kept6) : randomMac());
      mac6 = parseMac(vtepMacV6)!;
      native.setInfo6(ipv6Bytes(v6.subnet.ip), mac6);
    }
    let engine: NativeEngine;
    try {
      engine = new addon.NativeEngine(
        {
          device: o.device,
          queues: o.queues,
          persist: o.persist,
          configureDevice: o.configureDevice,
          // IPv6-only (ipv4 false): no IPv4 socket, address or route.
          ipv4: v4 !== undefined,
          deviceAddr: v4?.subnet.ip ?? 0,
          mtu: o.mtu,
          network: v4 ? v4.network.ip & maskOf(v4.network.prefixLen) : 0,
          networkPrefixLen: v4?.network.prefixLen ?? 0,
          bindIp: v4?.publicIpNum ?? 0,
          port: o.port,
          socketBuffer: o.socketBuffer,
          pollBudgetUs: o.pollBudgetUs,
          backend: BackendId[o.backend],
          vni: o.vni,
          ownMac: mac,
          checkPeers: !o.allowUnknownPeers,
          checkInnerSource: o.checkInnerSource,
          ...o.offloads,
          ...(v6
            ? {
                ipv6: true,
                bindIp6: v6.publicIpBytes,
                deviceAddr6: ipv6Bytes(v6.subnet.ip),
                network6: ipv6Bytes(v6.network.ip),
                network6PrefixLen: v6.network.prefixLen,
                mtu6: v6.mtu,
                ownMac6: mac6,
              }
            : {}),
          ...(adopt
            ? {
                adoptTun: adopt.tun,
                adoptUdp: adopt.udp,
                adoptSend: adopt.send,
                adoptUdp6: adopt.udp6 ?? [],
                adoptSend6: adopt.send6 ?? [],
              }
            : {}),
        },
        native,
      );
    } catch (err) {
      native.close();
      if (!reattached) unlinkQuietly(o.tablePath);
      throw err;
    }
    return new DataPlane(o, native, engine, vtepMac, vtepMacV6);
  }

  /** Counters, drops by reason, negotiated offloads and the table, as `weft table --json` prints them. */
  stats(): DataPlaneStats {
    return snapshot(this.#live(), this.options.tablePath);
  }

  /** The errno of a fatal worker error (device deleted, socket broken), 0 while healthy. */
  fatalErrno(): number {
    return this.#engine?.fatalErrno() ?? 0;
  }

  /** The TUN queues and UDP sockets the workers use, for a hand-off; they stay this data plane's. */
  handoffFds(): NativeEngineFds {
    if (!this.#engine) throw new WeftError(ErrorCode.CLOSED, `${this.toString()} is closed`);
    return this.#engine.fds();
  }

  /**
   * After the fds were handed over: stops the workers and closes this side's
   * fds and table, but keeps the table file for the successor whatever
   * `persist` says. The successor's references keep device and sockets open.
   */
  release(): void {
    this.#engine?.stop();
    this.#engine = undefined;
    this.#native?.close();
    this.#native = undefined;
  }

  get closed(): boolean {
    return this.#native === undefined;
  }

  /**
   * Stops the workers, closes the device and sockets, and (unless `persist`)
   * removes the table file. Idempotent.
   */
  async close(): Promise<void> {
    this.#engine?.stop();
    this.#engine = undefined;
    if (this.#native) {
      this.#native.close();
      this.#native = undefined;
      if (!this.options.persist) unlinkQuietly(this.options.tablePath);
    }
  }

  toString(): string {
    const o = this.options;
    const subnets = [
      ...(o.subnet ? [`${formatIPv4(o.subnet.ip)}/${o.subnet.prefixLen}`] : []),
      ...(o.ipv6Subnet ? [`${formatIPv6(o.ipv6Subnet.ip)}/${o.ipv6Subnet.prefixLen}`] : []),
    ];
    return `DataPlane(${o.backend} ${o.device} ${subnets.join(' ')})`;
  }

  #live(): NativeTable {
    if (!this.#native) throw new WeftError(ErrorCode.CLOSED, `${this.toString()} is closed`);
    return this.#native;
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}
