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
import { HostGwRoutes, deleteRoute, listRoutes } from '../host/routes';
import { vtepMacOf } from '../store/lease-json';
import type { StoredLease } from '../store/lease-store';

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

  async addPeer(lease: StoredLease): Promise<string | undefined> {
    const subnet = formatCidr(lease.subnet);
    if (lease.attrs.publicIp === '0.0.0.0') return 'it has no IPv4 PublicIP';
    if (!cidrContains(this.dataPlane.options.network, lease.subnet)) return 'its subnet is outside the Network';
    let vtepMac: string | undefined;
    if (this.type === 'vxlan') {
      vtepMac = vtepMacOf(lease.attrs);
      if (!vtepMac) return 'its BackendData has no VtepMAC';
    }
    try {
      this.dataPlane.table.set({ subnet, publicIp: lease.attrs.publicIp, ...(vtepMac ? { vtepMac } : {}) });
    } catch (err) {
      return (err as Error).message;
    }
    return undefined;
  }

  async removePeer(lease: StoredLease): Promise<void> {
    this.dataPlane.table.delete(formatCidr(lease.subnet));
  }

  async reconcile(peers: readonly StoredLease[]): Promise<void> {
    const want = new Set(peers.map((p) => formatCidr(p.subnet)));
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

  constructor(opts: { dev: string; mtu: number; network: Cidr; run?: CommandRunner; onError?: (err: Error) => void }) {
    this.mtu = opts.mtu;
    this.#dev = opts.dev;
    this.#network = opts.network;
    this.#run = opts.run ?? runCommand;
    this.#routes = new HostGwRoutes({ dev: opts.dev, run: this.#run, ...(opts.onError ? { onError: opts.onError } : {}) });
    this.#routes.start();
  }

  async addPeer(lease: StoredLease): Promise<string | undefined> {
    if (lease.attrs.publicIp === '0.0.0.0') return 'it has no IPv4 PublicIP';
    try {
      await this.#routes.set(lease.subnet, lease.attrs.publicIp);
    } catch (err) {
      return (err as Error).message; // flannel too only logs "Error adding route"
    }
    return undefined;
  }

  async removePeer(lease: StoredLease): Promise<void> {
    await this.#routes.delete(lease.subnet);
  }

  /** Also removes gateway routes into the Network on our device left by an earlier run. */
  async reconcile(peers: readonly StoredLease[]): Promise<void> {
    const want = new Set(peers.map((p) => `${formatCidr(p.subnet)} ${p.attrs.publicIp}`));
    for (const r of await listRoutes(this.#run, this.#dev)) {
      if (cidrContains(this.#network, r.dst) && !want.has(`${formatCidr(r.dst)} ${r.gateway}`)) await deleteRoute(r, this.#run);
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
