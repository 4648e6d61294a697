// The node's backend as the agent drives it: one small interface over the
// two data-plane backends (udp, vxlan: a DataPlane and its shared-memory
// table) and host-gw (kernel routes via each peer's PublicIP, no data plane).
//
// Contract: addPeer/removePeer are idempotent and never throw for one bad
// lease (they return a reason instead, for the log); reconcile() makes the
// programmed set equal to the given peers (a re-attached table or routes
// left by an earlier run may hold stale entries); destroy() undoes what
// open created, for a startup failure; close() keeps what `persist` keeps.

import { unlinkSync } from 'node:fs';
import type { BackendType } from '../config/network-config';
import { DataPlane } from '../dataplane/dataplane';
import type { DataPlaneBackend } from '../dataplane/options';
import { type Cidr, cidrContains, formatCidr } from '../net/cidr';
import { type CommandRunner, runCommand } from '../host/exec';
import { HostGwRoutes, deleteRoute, listRoutes, listRoutes6 } from '../host/routes';
import { type Cidr6, cidr6Contains, formatCidr6 } from '../net/cidr6';
import { hasIpv4Subnet } from '../store/keys';
import { vtepMacOf, vtepMacV6Of } from '../store/lease-json';
import type { StoredLease } from '../store/lease-store';

/** The table rows (subnet text) a peer lease gives: its IPv4 subnet and, dual stack, its IPv6 one. */
function rowsOf(lease: StoredLease): string[] {
  return [...(hasIpv4Subnet(lease.subnet) ? [formatCidr(lease.subnet)] : []), ...(lease.ipv6Subnet ? [formatCidr6(lease.ipv6Subnet)] : [])];
}

export interface NodeBackend {
  readonly type: BackendType;
  /** The MTU pods must use (FLANNEL_MTU). */
  readonly mtu: number;
  readonly dataPlane: DataPlane | undefined;
  /** Programs a peer; returns why it was skipped, or undefined when programmed. */
  addPeer(lease: StoredLease): Promise<string | undefined>;
  removePeer(lease: StoredLease): Promise<void>;
  reconcile(peers: readonly StoredLease[]): Promise<void>;
  /** Entries (table rows or routes) programmed now. */
  size(): number;
  close(): Promise<void>;
  destroy(): Promise<void>;
}

export class DataPlaneNodeBackend implements NodeBackend {
  readonly type: DataPlaneBackend;
  readonly mtu: number;
  readonly dataPlane: DataPlane;
  readonly #run: CommandRunner;

  private constructor(dp: DataPlane, run: CommandRunner) {
    this.dataPlane = dp;
    this.type = dp.options.backend;
    this.mtu = dp.options.mtu;
    this.#run = run;
  }

  /** `adopt`: fds handed over by a predecessor (DataPlane.open). */
  static async open(
    options: Parameters<typeof DataPlane.open>[0],
    run: CommandRunner = runCommand,
    adopt?: Parameters<typeof DataPlane.open>[1],
  ): Promise<DataPlaneNodeBackend> {
    return new DataPlaneNodeBackend(await DataPlane.open(options, adopt), run);
  }

  /**
   * One table row per family: the IPv4 subnet to PublicIP with the
   * BackendData VtepMAC, the IPv6 subnet to PublicIPv6 with the
   * BackendV6Data VtepMAC (a kernel flanneld node has a second device with
   * its own MAC; a weft node publishes its one MAC in both). A family the
   * node does not carry, or the peer does not publish, is skipped.
   */
  async addPeer(lease: StoredLease): Promise<string | undefined> {
    const reasons: string[] = [];
    let programmed = 0;
    const o = this.dataPlane.options;
    if (hasIpv4Subnet(lease.subnet) && o.network) {
      const why = this.#addRow(lease, 4, o.network);
      if (why) reasons.push(why);
      else programmed++;
    }
    if (lease.ipv6Subnet && o.ipv6Network) {
      const why = this.#addRow(lease, 6, o.ipv6Network);
      if (why) reasons.push(`IPv6: ${why}`);
      else programmed++;
    }
    if (programmed === 0 && reasons.length === 0) return 'it has no subnet of a family this node carries';
    return reasons.length > 0 ? reasons.join('; ') : undefined;
  }

  #addRow(lease: StoredLease, family: 4 | 6, network: Cidr | Cidr6): string | undefined {
    const v6 = family === 6;
    const publicIp = v6 ? lease.attrs.publicIpv6 : lease.attrs.publicIp;
    if (!publicIp || publicIp === '0.0.0.0') return v6 ? 'it has no PublicIPv6' : 'it has no IPv4 PublicIP';
    const inside = v6 ? cidr6Contains(network as Cidr6, lease.ipv6Subnet!) : cidrContains(network as Cidr, lease.subnet);
    if (!inside) return v6 ? 'its IPv6 subnet is outside the IPv6Network' : 'its subnet is outside the Network';
    let vtepMac: string | undefined;
    if (this.type === 'vxlan') {
      vtepMac = v6 ? vtepMacV6Of(lease.attrs) : vtepMacOf(lease.attrs);
      if (!vtepMac) return v6 ? 'its BackendV6Data has no VtepMAC' : 'its BackendData has no VtepMAC';
    }
    const subnet = v6 ? formatCidr6(lease.ipv6Subnet!) : formatCidr(lease.subnet);
    try {
      this.dataPlane.table.set({ subnet, publicIp, ...(vtepMac ? { vtepMac } : {}) });
    } catch (err) {
      return (err as Error).message;
    }
    return undefined;
  }

  async removePeer(lease: StoredLease): Promise<void> {
    for (const row of rowsOf(lease)) {
      try {
        this.dataPlane.table.delete(row);
      } catch {
        // a family the table does not hold
      }
    }
  }

  async reconcile(peers: readonly StoredLease[]): Promise<void> {
    const want = new Set(peers.flatMap(rowsOf));
    for (const e of this.dataPlane.table.entries()) if (!want.has(e.subnet)) this.dataPlane.table.delete(e.subnet);
  }

  size(): number {
    return this.dataPlane.closed ? 0 : this.dataPlane.table.size;
  }

  async close(): Promise<void> {
    await this.dataPlane.close();
  }

  /** Closes and, unless the table and device were re-attached from an earlier run, removes both. */
  async destroy(): Promise<void> {
    const { device, tablePath, persist } = this.dataPlane.options;
    const keep = this.dataPlane.reattached;
    await this.dataPlane.close();
    if (keep || !persist) return;
    await this.#run('ip', ['link', 'delete', device]).catch(() => undefined);
    try {
      unlinkSync(tablePath);
    } catch {
      // not there
    }
  }
}

export class HostGwNodeBackend implements NodeBackend {
  readonly type = 'host-gw' as const;
  readonly mtu: number;
  readonly dataPlane = undefined;
  readonly #routes: HostGwRoutes;
  readonly #dev: string;
  readonly #network: Cidr;
  readonly #run: CommandRunner;

  readonly #ipv4: boolean;
  readonly #network6: Cidr6 | undefined;

  /** `network`: the IPv4 Network (undefined on an IPv6-only node); `network6`: the IPv6Network in dual stack. */
  constructor(opts: {
    dev: string;
    mtu: number;
    network: Cidr | undefined;
    network6?: Cidr6 | undefined;
    run?: CommandRunner;
    onError?: (err: Error) => void;
  }) {
    this.mtu = opts.mtu;
    this.#dev = opts.dev;
    this.#ipv4 = opts.network !== undefined;
    this.#network = opts.network ?? { ip: 0, prefixLen: 32 };
    this.#network6 = opts.network6;
    this.#run = opts.run ?? runCommand;
    this.#routes = new HostGwRoutes({ dev: opts.dev, run: this.#run, ...(opts.onError ? { onError: opts.onError } : {}) });
    this.#routes.start();
  }

  /** `<subnet> via <PublicIP>` and, dual stack, `<IPv6 subnet> via <PublicIPv6>`, on the external interface. */
  async addPeer(lease: StoredLease): Promise<string | undefined> {
    const reasons: string[] = [];
    if (hasIpv4Subnet(lease.subnet) && this.#ipv4) {
      if (lease.attrs.publicIp === '0.0.0.0') reasons.push('it has no IPv4 PublicIP');
      else await this.#routes.set(lease.subnet, lease.attrs.publicIp).catch((err: Error) => reasons.push(err.message)); // flannel too only logs "Error adding route"
    }
    if (lease.ipv6Subnet && this.#network6) {
      if (lease.attrs.publicIpv6 === null) reasons.push('it has no PublicIPv6');
      else if (!cidr6Contains(this.#network6, lease.ipv6Subnet)) reasons.push('its IPv6 subnet is outside the IPv6Network');
      else await this.#routes.set(lease.ipv6Subnet, lease.attrs.publicIpv6).catch((err: Error) => reasons.push(err.message));
    }
    return reasons.length > 0 ? reasons.join('; ') : undefined;
  }

  async removePeer(lease: StoredLease): Promise<void> {
    if (hasIpv4Subnet(lease.subnet)) await this.#routes.delete(lease.subnet);
    if (lease.ipv6Subnet) await this.#routes.delete(lease.ipv6Subnet);
  }

  /** Also removes gateway routes into the Network on our device left by an earlier run. */
  async reconcile(peers: readonly StoredLease[]): Promise<void> {
    const want = new Set(peers.map((p) => `${formatCidr(p.subnet)} ${p.attrs.publicIp}`));
    if (this.#ipv4)
      for (const r of await listRoutes(this.#run, this.#dev)) {
        if (cidrContains(this.#network, r.dst) && !want.has(`${formatCidr(r.dst)} ${r.gateway}`)) await deleteRoute(r, this.#run);
      }
    const net6 = this.#network6;
    if (net6) {
      const want6 = new Set(peers.filter((p) => p.ipv6Subnet).map((p) => `${formatCidr6(p.ipv6Subnet!)} ${p.attrs.publicIpv6}`));
      for (const r of await listRoutes6(this.#run, this.#dev)) {
        if (cidr6Contains(net6, r.dst) && !want6.has(`${formatCidr6(r.dst)} ${r.gateway}`)) await deleteRoute(r, this.#run);
      }
    }
  }

  size(): number {
    return this.#routes.routes().length;
  }

  async close(): Promise<void> {
    await this.#routes.stop(); // like flanneld, routes stay for a restart
  }

  async destroy(): Promise<void> {
    await this.#routes.removeAll();
  }
}
