// Agent: the composition root of `weft run`, and what embedders use.
//
// start() follows flanneld's order (flannel-facts §10):
//   interface → [re-attach] → store → network config (retried until present) → lease
//   (previous subnet from subnet.env) → backend (DataPlane on flannel0 /
//   flannel.<VNI>, or host-gw routes) → iptables rules → state file and
//   subnet.env → peers programmed from the store → ready → renew/watch.
// [re-attach]: when the state file of an earlier run records a udp/vxlan
// data plane and its persistent table is still there, the device and table
// are re-attached first, with the recorded subnet, port, VNI, VtepMAC and
// MTU, so forwarding to the known peers resumes before the store is reached
// (a restart drops almost no traffic, also during a store outage). Once the
// lease and config are known the re-attached data plane is kept if it matches
// them, else closed and opened anew; peers are reconciled only after the
// store has answered, so nothing is removed from the table on a guess.
// Store calls during startup are retried with backoff while the store is
// unreachable; anything else that fails undoes what startup created (device,
// table, rules, a lease this run created) and rejects start().
//
// While running, a store outage never touches forwarding: the table keeps
// its entries, readiness turns false with the reason, and a probe (plus the
// lease manager's own retries) reconnects with backoff.
//
// stop(): watch and renewal stop, rule checks stop, the store closes, the
// data plane closes last (with `persist` the device and table stay for a
// restart), the lease stays in the store (flanneld does the same). Events: 'ready',
// 'peer' (PeerEvent), 'fatal' (Error: the data plane died, or the lease
// moved to another subnet) — after 'fatal' the owner should stop().

import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import type { NetworkConfig } from '../config/network-config';
import { backendPort } from '../config/network-config';
import type { DataPlaneStats } from '../dataplane/stats';
import { defaultTablePath } from '../dataplane/options';
import { ErrorCode, WeftError } from '../errors';
import { type CommandRunner, runCommand } from '../host/exec';
import type { RuleSync } from '../host/iptables';
import { BlackholeRoutes } from '../host/routes';
import { type SubnetEnvValues, readSubnetEnv } from '../host/subnet-env';
import { LeaseManager, type OwnLease, describeLease } from '../lease/lease-manager';
import type { PeerEvent } from '../lease/lease-watcher';
import { formatCidr } from '../net/cidr';
import { formatCidr6 } from '../net/cidr6';
import { leaseAttrsFor, vtepMacOf } from '../store/lease-json';
import { type AgentLogger, type AgentOptions, type ResolvedAgentOptions, resolveAgentOptions, silentLogger } from './agent-options';
import { type OpenedStore, chooseVtepMac, hostGwCheck, openStore, parseSeed, readNetworkConfig } from './agent-setup';
import { DataPlaneNodeBackend, HostGwNodeBackend, type NodeBackend } from './backend';
import {
  type DataPlaneShape,
  type DataPlaneTuning,
  dataPlaneOptions,
  overlayMtu,
  sameDataPlane,
  shapeOf,
  shapeOfState,
} from './dataplane-options';
import { HandoffServer, giveTo, takeOverFrom } from './handoff';
import { storeFds } from './systemd';
import { closeHandedOver } from '../dataplane/handoff';
import { installRuleSets, removeRuleSets, writeNodeFiles } from './host-setup';
import { type ExternalInterface, type InterfaceChoice, selectInterface } from './interface-select';
import { type NodeState, readNodeState } from './node-state';
import { stopped, withTimeout } from './retry';
import { StoreHealth } from './store-health';

export type AgentPhase = 'created' | 'starting' | 'ready' | 'stopping' | 'stopped' | 'failed';

export interface AgentStatus {
  readonly phase: AgentPhase;
  /** /healthz: the process works (false only after a fatal error). */
  readonly healthy: boolean;
  /** /readyz: device, table, rules and subnet.env in place, and the store reachable. */
  readonly ready: boolean;
  /** Why not ready (or not healthy); undefined when ready. */
  readonly reason: string | undefined;
  readonly store: string | undefined;
  readonly storeError: string | undefined;
  readonly backend: string | undefined;
  readonly iface: ExternalInterface | undefined;
  readonly lease:
    | {
        /** `0.0.0.0/0` on an IPv6-only node. */
        subnet: string;
        ipv6Subnet?: string;
        publicIp: string;
        publicIpv6?: string;
        vtepMac?: string;
        expiresAt: number | null;
        reservation: boolean;
      }
    | undefined;
  readonly peers: number;
  readonly tableSize: number;
  readonly renewals: number;
  /** Peers skipped because their records are malformed (Kubernetes: node annotations). */
  readonly skippedPeers: number;
}

export declare interface Agent {
  on(event: 'ready', listener: () => void): this;
  on(event: 'peer', listener: (event: PeerEvent) => void): this;
  on(event: 'fatal', listener: (err: Error) => void): this;
  /** The data plane went to a successor (hand-off); the owner should stop() and exit. */
  on(event: 'handoff', listener: () => void): this;
}

export class Agent extends EventEmitter {
  readonly options: ResolvedAgentOptions;
  readonly #o: AgentOptions;
  readonly #log: AgentLogger;
  readonly #run: CommandRunner;
  readonly #abort = new AbortController();
  #phase: AgentPhase = 'created';
  #stage = 'not started';
  #fatal: Error | undefined;
  readonly #health: StoreHealth;
  #opened: OpenedStore | undefined;
  #iface: ExternalInterface | undefined;
  #config: NetworkConfig | undefined;
  #manager: LeaseManager | undefined;
  #backend: NodeBackend | undefined;
  #rules: RuleSync[] = [];
  #blackholes: BlackholeRoutes | undefined;
  #peerChain: Promise<void> = Promise.resolve();
  #timers: NodeJS.Timeout[] = [];
  #renewals = 0;
  #starting: Promise<void> | undefined;
  #handoffServer: HandoffServer | undefined;
  #handedOff = false;

  constructor(options: AgentOptions = {}) {
    super();
    this.#o = options;
    this.options = resolveAgentOptions(options);
    this.#log = options.logger ?? silentLogger;
    this.#run = options.run ?? runCommand;
    this.#health = new StoreHealth({
      log: this.#log,
      describe: () => this.#opened?.describe,
      running: () => this.#phase === 'ready',
      signal: this.#abort.signal,
      maxDelayMs: this.options.retryMaxMs,
    });
  }

  /** Starts the node; resolves once ready (see the order at the top). */
  start(): Promise<void> {
    if (this.#phase !== 'created') throw new WeftError(ErrorCode.USAGE, 'Agent.start() can be called once');
    this.#phase = 'starting';
    this.#starting = this.#start().catch(async (err: unknown) => {
      this.#phase = 'failed';
      // A data plane re-attached early (and not undone) stays as a stop leaves it.
      await this.#backend?.close().catch(() => undefined);
      await this.#closeStore();
      throw err;
    });
    return this.#starting;
  }

  /** --iface, --iface-regex and --iface-can-reach, as both interface choices take them. */
  #ifaceFlags(): InterfaceChoice {
    const o = this.#o;
    return {
      ...(o.iface ? { iface: o.iface } : {}),
      ...(o.ifaceRegex ? { ifaceRegex: o.ifaceRegex } : {}),
      ...(o.ifaceCanReach ? { ifaceCanReach: o.ifaceCanReach } : {}),
    };
  }

  async #start(): Promise<void> {
    const o = this.options;
    const seedText = this.#o.networkConfig;
    parseSeed(seedText); // an invalid --net-config-path fails before anything is touched
    this.#stage = 'choosing the external interface';
    // The IPv4 choice, before the config is known (a restart re-attaches with it). An
    // IPv6-only node may have no IPv4 interface: its choice waits for the config.
    let iface: ExternalInterface;
    let ifaceError: unknown;
    try {
      iface = selectInterface({ ...this.#ifaceFlags(), ...(this.#o.publicIp ? { publicIp: this.#o.publicIp } : {}) });
    } catch (err) {
      if (!(err instanceof WeftError) || err.code !== ErrorCode.INVALID_OPTION || err.option === 'public-ip') throw err;
      ifaceError = err; // thrown once the config says IPv4 is wanted
      this.#log.debug('no IPv4 interface; an IPv6-only config may not need one', { err: err.message });
      iface = { name: '', address: '0.0.0.0', publicIp: '0.0.0.0', mtu: 1500 };
    }
    this.#iface = iface;
    const state = readNodeState(o.stateFile);
    if (ifaceError === undefined) {
      this.#log.info('using interface', { iface: iface.name, address: iface.address, publicIp: iface.publicIp, mtu: iface.mtu });
    }
    // An IPv6-only vxlan node (the state file says so) needs no IPv4 interface for
    // its data plane: it is taken over or re-attached early all the same.
    if (ifaceError === undefined || shapeOfState(state)?.network === '') {
      if (!(await this.#takeOver(iface)) && !(await this.#takeFromFdStore(state, iface))) await this.#reattachEarly(state, iface);
    }

    this.#stage = 'opening the store';
    // A store that cannot be opened for now (an embedded database locked by
    // another process) is retried like an unreachable one; a corrupted one is not.
    const opened = await this.#health.retry('open the store', async () => openStore(this.#o, o.dataDir));
    this.#opened = opened;
    if (opened.publicIp && !this.#o.publicIp) {
      // Kubernetes: an administrator's node-public-ip annotation stands for --public-ip.
      const assigned = await this.#health.retry("read the node's public IP", () => opened.publicIp!());
      if (assigned && assigned !== iface.publicIp) {
        iface = { ...iface, publicIp: assigned };
        this.#iface = iface;
        this.#log.info('using the public IP the store assigns this node', { publicIp: assigned });
      }
    }
    this.#stage = 'reading the network config';
    const config = await this.#health.retry('read the network config', () => readNetworkConfig(opened, seedText, (m) => this.#log.warn(m)));
    this.#config = config;
    const type = config.backend.type;
    this.#log.info('network config', {
      ...(config.enableIPv4 ? { network: formatCidr(config.network), subnetLen: config.subnetLen } : {}),
      ...(config.ipv6 ? { ipv6Network: formatCidr6(config.ipv6.network), ipv6SubnetLen: config.ipv6.subnetLen } : {}),
      backend: type,
    });
    if (ifaceError !== undefined && config.enableIPv4) throw ifaceError;
    if (config.enableIPv6 || !config.enableIPv4) {
      // The families are known now: pick the IPv6 address (or, IPv6-only, the interface) as flanneld does.
      iface = selectInterface({
        ...this.#ifaceFlags(),
        ...(config.enableIPv4 && iface.publicIp !== iface.address ? { publicIp: iface.publicIp } : {}),
        ...(config.enableIPv4 && this.#o.publicIp ? { publicIp: this.#o.publicIp } : {}),
        ...(this.#o.publicIpv6 ? { publicIpv6: this.#o.publicIpv6 } : {}),
        ipv4: config.enableIPv4,
        ipv6: config.enableIPv6,
      });
      this.#iface = iface;
      this.#log.info('using interface (IPv6)', { iface: iface.name, address6: iface.address6, publicIpv6: iface.publicIpv6 });
    }
    if (type === 'host-gw') hostGwCheck(iface.publicIp, iface.address);

    const prevEnv = await readSubnetEnv(o.subnetFile);
    // IPv6-only vxlan: flannel-v6.<VNI>, kernel flannel's only device in that mode.
    const device =
      type === 'vxlan' ? (config.enableIPv4 ? `flannel.${config.backend.vni}` : `flannel-v6.${config.backend.vni}`) : 'flannel0';
    const tablePath = this.#o.tablePath ?? defaultTablePath(device);
    let vtepMac: string | undefined;
    if (config.backend.type === 'vxlan') {
      const stored = opened.vtepMac ? await this.#health.retry('read our VtepMAC', () => opened.vtepMac!()) : undefined;
      const chosen = stored ? { mac: stored, from: 'store' } : chooseVtepMac(state, tablePath);
      vtepMac = chosen.mac;
      this.#log.info('VtepMAC', { vtepMac, from: chosen.from });
    }
    const attrs = leaseAttrsFor(
      type,
      iface.publicIp,
      config.backend.type === 'vxlan' ? { vni: config.backend.vni, vtepMac: vtepMac! } : undefined,
      { publicIpv6: config.enableIPv6 ? iface.publicIpv6 : undefined, ipv4: config.enableIPv4 },
    );

    this.#stage = 'acquiring a lease';
    const store = opened.store;
    const manager = new LeaseManager({
      store,
      config,
      attrs,
      ...(prevEnv?.subnet && config.enableIPv4 ? { previousSubnet: prevEnv.subnet } : {}),
      ...(prevEnv?.ipv6Subnet && config.enableIPv6 ? { previousIpv6Subnet: prevEnv.ipv6Subnet } : {}),
      ttlSec: o.ttlSec,
      renewMarginMs: o.renewMarginMs,
      retryIntervalMs: Math.min(60_000, Math.max(500, (o.ttlSec * 1000) / 8)),
      onPeer: (e) => this.#onPeer(e),
      onRenew: (l) => {
        this.#renewals++;
        this.#health.ok();
        this.#log.debug('lease renewed', { subnet: describeLease(l), expiresAt: l.expiresAt && new Date(l.expiresAt).toISOString() });
      },
      onLeaseChange: (next, prev) =>
        this.#die(
          new WeftError(
            ErrorCode.STORE,
            `our lease ${describeLease(prev)} was deleted and its subnet taken; re-acquired ${describeLease(next)}: restart to reprogram this node with it`,
          ),
        ),
      onError: (err, during) => this.#health.failed(err, during),
      onWatchOpen: () => {
        this.#log.info('store watch opened', { store: this.#opened?.describe });
        this.#health.ok(); // the store answers again: /readyz need not wait for the next probe
      },
    });
    this.#manager = manager;
    const hadLease = await this.#health.retry('list leases', async () =>
      (await store.list()).leases.some((l) =>
        config.enableIPv4 ? l.attrs.publicIp === iface.publicIp : l.attrs.publicIpv6 !== null && l.attrs.publicIpv6 === attrs.publicIpv6,
      ),
    );
    const lease = await this.#health.retry('acquire a lease', () => manager.acquire());
    this.#log.info('acquired lease', {
      subnet: describeLease(lease),
      publicIp: iface.publicIp,
      reservation: lease.reservation,
      reused: hadLease,
    });

    try {
      await this.#setUpHost(config, iface, lease, { device, tablePath, vtepMac, prevEnv });
      this.#stage = 'programming peers';
      await this.#health.retry('watch leases', () => manager.start());
      await this.#peerChain;
      await this.#backend!.reconcile(manager.peers());
    } catch (err) {
      await this.#undo(lease, hadLease);
      throw err;
    }
    if (this.#abort.signal.aborted) throw stopped();
    this.#phase = 'ready';
    this.#stage = 'ready';
    this.#startMonitors();
    this.#log.info('ready', { subnet: describeLease(lease), peers: manager.peers().length, tableSize: this.#backend!.size() });
    this.emit('ready');
    if (opened.afterReady) void this.#afterReady(opened.afterReady);
    void this.#listenForSuccessor();
    const dp = this.#backend!.dataPlane;
    if (this.#o.fdStore && dp) {
      try {
        storeFds(dp);
        this.#log.info("data plane fds parked in systemd's fd store", { device: dp.options.device });
      } catch (err) {
        this.#log.warn("cannot park the data plane fds in systemd's fd store", { err: (err as Error).message });
      }
    }
  }

  /**
   * Takes the running data plane over from a predecessor (see handoff.ts),
   * before anything else: its workers stop only once ours can start on the
   * same fds. False when there is none, or its fds cannot be used.
   */
  async #takeOver(iface: ExternalInterface): Promise<boolean> {
    const path = this.options.handoffSocket;
    if (!path) return false;
    this.#stage = 'taking the data plane over';
    const got = takeOverFrom(path, this.#log);
    if (!got) return false;
    const shape = got.description;
    try {
      const tuning = { ...this.#tuning(true), queues: got.fds.tun.length };
      this.#backend = await DataPlaneNodeBackend.open(dataPlaneOptions(shape, iface.address, tuning), this.#run, got.fds);
    } catch (err) {
      this.#log.warn('cannot run the handed-over data plane; setting it up anew', { err: (err as Error).message });
      return false;
    }
    this.#log.info('data plane taken over from the previous process', {
      pid: got.pid,
      device: shape.device,
      queues: got.fds.tun.length,
      tableSize: this.#backend.size(),
    });
    return true;
  }

  /** systemd passed the fds of the previous start (its fd store): runs them with the state file's description. */
  async #takeFromFdStore(state: NodeState | undefined, iface: ExternalInterface): Promise<boolean> {
    const fds = this.#o.listenFds;
    if (!fds) return false;
    const shape = shapeOfState(state);
    if (!shape) {
      this.#log.warn("systemd passed fds but the state file describes no data plane; they're closed", {
        stateFile: this.options.stateFile,
      });
      closeHandedOver(fds);
      return false;
    }
    this.#stage = "taking the data plane from systemd's fd store";
    try {
      const tuning = { ...this.#tuning(true), queues: fds.tun.length };
      this.#backend = await DataPlaneNodeBackend.open(dataPlaneOptions(shape, iface.address, tuning), this.#run, fds);
    } catch (err) {
      this.#log.warn("cannot run the data plane from systemd's fd store; setting it up anew", { err: (err as Error).message });
      return false;
    }
    this.#log.info("data plane taken from systemd's fd store", {
      device: shape.device,
      queues: fds.tun.length,
      tableSize: this.#backend.size(),
    });
    return true;
  }

  /** Once ready: waits for a successor to hand the data plane to. */
  async #listenForSuccessor(): Promise<void> {
    const path = this.options.handoffSocket;
    if (!path || !this.#backend?.dataPlane) return;
    try {
      const server = await HandoffServer.listen(path, this.#log, (fd) => this.#handOff(fd));
      if (this.#phase !== 'ready') return await server.close();
      this.#handoffServer = server;
      this.#log.info('listening for a successor to hand the data plane to', { socket: path });
    } catch (err) {
      this.#log.warn('cannot listen for a successor; a restart re-attaches instead', { socket: path, err: (err as Error).message });
    }
  }

  #handOff(socketFd: number): boolean {
    const dp = this.#backend?.dataPlane;
    if (this.#phase !== 'ready' || this.#handedOff || !dp || dp.closed) return false;
    if (!giveTo(socketFd, dp, shapeOf(dp), this.#log)) return false;
    this.#handedOff = true;
    this.#log.info('data plane handed over to a successor', { device: dp.options.device });
    this.emit('handoff');
    return true;
  }

  /** The store's "node is up" step (NetworkUnavailable=False), retried every 3 s for 30 s as flannel does. */
  async #afterReady(fn: () => Promise<void>): Promise<void> {
    for (let attempt = 1; attempt <= 10 && !this.#abort.signal.aborted; attempt++) {
      try {
        await fn();
        this.#log.info('node condition NetworkUnavailable set to False');
        return;
      } catch (err) {
        this.#log.warn('cannot set the node condition NetworkUnavailable=False', { err: (err as Error).message, attempt });
        await new Promise((r) => setTimeout(r, 3000).unref());
      }
    }
  }

  async #setUpHost(
    config: NetworkConfig,
    iface: ExternalInterface,
    lease: OwnLease,
    s: { device: string; tablePath: string; vtepMac: string | undefined; prevEnv: SubnetEnvValues | undefined },
  ): Promise<void> {
    const o = this.options;
    const b = config.backend;
    this.#stage = 'setting up the backend';
    if (b.type === 'host-gw') {
      this.#backend = new HostGwNodeBackend({
        dev: iface.name,
        mtu: iface.mtu,
        network: config.enableIPv4 ? config.network : undefined,
        network6: config.ipv6?.network,
        run: this.#run,
        onError: (err) => this.#log.warn('host-gw route check failed', { err: err.message }),
      });
    } else {
      const shape: DataPlaneShape = {
        backend: b.type,
        device: s.device,
        network: config.enableIPv4 ? formatCidr(config.network) : '',
        subnet: config.enableIPv4 ? formatCidr(lease.subnet) : '',
        ...(config.ipv6 && lease.ipv6Subnet
          ? { ipv6Network: formatCidr6(config.ipv6.network), ipv6Subnet: formatCidr6(lease.ipv6Subnet) }
          : {}),
        port: backendPort(b)!,
        ...(b.type === 'vxlan' ? { vni: b.vni, vtepMac: s.vtepMac! } : {}),
        mtu: overlayMtu(b.type, iface.mtu, b.type === 'vxlan' ? b.mtu : 0),
        tablePath: s.tablePath,
      };
      const want = dataPlaneOptions(shape, iface.address, this.#tuning(o.persist), iface.address6);
      const early = this.#backend;
      const kept = early?.dataPlane && !early.dataPlane.closed && sameDataPlane(early.dataPlane.options, early.dataPlane.vtepMac, want);
      if (early && !kept) {
        this.#log.info('the re-attached data plane does not match the lease and config; opening it anew', {
          device: early.dataPlane?.options.device,
        });
        this.#backend = undefined;
        await early.close();
      }
      const backend = kept && early ? early : await DataPlaneNodeBackend.open(want, this.#run);
      this.#backend = backend;
      const dp = backend.dataPlane!;
      this.#log.info('data plane open', {
        device: s.device,
        mtu: dp.options.mtu,
        port: dp.options.port,
        queues: dp.options.queues,
        reattached: dp.reattached,
        tablePath: s.tablePath,
        ...(dp.vtepMac ? { vtepMac: dp.vtepMac } : {}),
      });
    }
    this.#stage = 'installing iptables rules';
    const rules = await installRuleSets({
      ...(config.enableIPv4 ? { network: config.network, subnet: lease.subnet } : {}),
      ...(config.ipv6 && lease.ipv6Subnet ? { ipv6Network: config.ipv6.network, ipv6Subnet: lease.ipv6Subnet } : {}),
      previous: s.prevEnv,
      ipMasq: o.ipMasq,
      forwardRules: o.forwardRules,
      randomFullyDisabled: o.randomFullyDisabled,
      resyncMs: o.resyncMs,
      run: this.#run,
      log: this.#log,
    });
    this.#rules = rules.syncs;
    if (o.blackholeRoute) {
      this.#stage = 'adding the blackhole routes';
      const dsts = [...(config.enableIPv4 ? [lease.subnet] : []), ...(lease.ipv6Subnet ? [lease.ipv6Subnet] : [])];
      this.#blackholes = new BlackholeRoutes(dsts, this.#run, (dst, err) =>
        this.#log.warn('cannot add the blackhole route', { dst, err: err.message }),
      );
      await this.#blackholes.start(o.resyncMs);
    }
    this.#stage = 'writing subnet.env';
    const dp = this.#backend.dataPlane;
    await writeNodeFiles(
      o,
      {
        version: 1,
        backend: b.type,
        network: config.enableIPv4 ? formatCidr(config.network) : '',
        subnet: config.enableIPv4 ? formatCidr(lease.subnet) : '',
        ...(config.ipv6 && lease.ipv6Subnet
          ? { ipv6Network: formatCidr6(config.ipv6.network), ipv6Subnet: formatCidr6(lease.ipv6Subnet) }
          : {}),
        iface: iface.name,
        ipMasq: o.ipMasq,
        forwardRules: o.forwardRules,
        randomFully: rules.randomFully,
        ...(b.type !== 'host-gw' ? { device: s.device, tablePath: s.tablePath } : {}),
        ...(dp?.vtepMac ? { vtepMac: dp.vtepMac } : {}),
        ...(dp?.options.publicIpv6 ? { publicIpv6: dp.options.publicIpv6 } : {}),
        ...(dp ? { port: dp.options.port, mtu: dp.options.mtu } : {}),
        ...(b.type === 'vxlan' ? { vni: b.vni } : {}),
      },
      {
        ...(config.enableIPv4 ? { network: config.network, subnet: lease.subnet } : {}),
        ...(config.ipv6 && lease.ipv6Subnet ? { ipv6Network: config.ipv6.network, ipv6Subnet: lease.ipv6Subnet } : {}),
        mtu: this.#backend.mtu,
        ipMasq: o.ipMasq,
      },
    );
  }

  /** The agent's settings every data plane it opens shares. */
  #tuning(persist: boolean): DataPlaneTuning {
    const o = this.options;
    return { queues: this.#o.queues, persist, allowUnknownPeers: o.allowUnknownPeers, checkInnerSource: o.checkInnerSource };
  }

  /**
   * Re-attaches the data plane of an earlier run (see the top) from its state
   * file, before the store is opened. Only a table that is still there is
   * re-attached; anything that does not work out is left to the normal path.
   */
  async #reattachEarly(state: NodeState | undefined, iface: ExternalInterface): Promise<void> {
    const o = this.options;
    const shape = shapeOfState(state);
    if (!o.persist || !shape) return;
    if (this.#o.tablePath !== undefined && this.#o.tablePath !== shape.tablePath) return;
    if (!existsSync(shape.tablePath)) return;
    this.#stage = 're-attaching the data plane';
    let backend: DataPlaneNodeBackend;
    try {
      backend = await DataPlaneNodeBackend.open(dataPlaneOptions(shape, iface.address, this.#tuning(true)), this.#run);
    } catch (err) {
      this.#log.warn('cannot re-attach the data plane of the previous run; it is set up after the store', {
        device: shape.device,
        err: (err as Error).message,
      });
      return;
    }
    if (!backend.dataPlane.reattached) {
      await backend.close();
      return;
    }
    this.#backend = backend;
    this.#log.info('data plane re-attached before the store', { device: shape.device, subnet: shape.subnet, tableSize: backend.size() });
  }

  /** Startup failed after the lease: remove what this run created. */
  async #undo(lease: OwnLease, hadLease: boolean): Promise<void> {
    await this.#manager?.stop().catch(() => undefined);
    await removeRuleSets(this.#rules);
    this.#rules = [];
    await this.#blackholes?.remove().catch(() => undefined);
    this.#blackholes = undefined;
    await this.#backend?.destroy().catch(() => undefined);
    this.#backend = undefined;
    if (!hadLease) await withTimeout(this.#opened!.store.delete(lease), 2000, 'delete lease').catch(() => undefined);
  }

  #onPeer(e: PeerEvent): void {
    this.emit('peer', e);
    if (this.#handedOff) return; // the successor programs its table now
    this.#health.ok();
    const subnet = describeLease(e.lease);
    this.#peerChain = this.#peerChain.then(async () => {
      const backend = this.#backend;
      if (!backend) return;
      if (e.type === 'removed') {
        await backend.removePeer(e.lease).catch((err: Error) => this.#log.warn('cannot remove peer', { subnet, err: err.message }));
        this.#log.info('peer removed', { subnet, publicIp: e.lease.attrs.publicIp });
        return;
      }
      const skipped = await backend.addPeer(e.lease);
      const mac = vtepMacOf(e.lease.attrs);
      if (skipped) this.#log.warn('peer lease ignored', { subnet, publicIp: e.lease.attrs.publicIp, reason: skipped });
      else this.#log.info('peer added', { subnet, publicIp: e.lease.attrs.publicIp, ...(mac ? { vtepMac: mac } : {}) });
    });
  }

  /** Store probe (reconnect with backoff) and the data plane's fatal-error check. */
  #startMonitors(): void {
    const opened = this.#opened!;
    this.#health.startProbe(() => (opened.probe ? opened.probe() : opened.store.getConfig()));
    const dp = this.#backend?.dataPlane;
    if (dp) {
      const t = setInterval(() => {
        const errno = dp.closed ? 0 : dp.fatalErrno();
        if (errno !== 0) {
          clearInterval(t);
          this.#die(
            new WeftError(ErrorCode.TUN, `the data plane stopped: worker error errno ${errno} (device ${dp.options.device} deleted?)`),
          );
        }
      }, 1000);
      t.unref();
      this.#timers.push(t);
    }
  }

  #die(err: Error): void {
    if (this.#fatal) return;
    this.#fatal = err;
    this.#log.error(err.message);
    this.emit('fatal', err);
  }

  status(): AgentStatus {
    const lease = this.#manager?.lease;
    const ready = this.#phase === 'ready' && !this.#fatal && !this.#handedOff && this.#health.error === undefined;
    const reason = ready
      ? undefined
      : (this.#fatal?.message ??
        (this.#handedOff ? 'the data plane was handed over to a successor' : undefined) ??
        (this.#health.error !== undefined ? `store unreachable: ${this.#health.error}` : `${this.#phase}: ${this.#stage}`));
    const mac = lease ? vtepMacOf(lease.attrs) : undefined;
    return {
      phase: this.#phase,
      healthy: !this.#fatal && this.#phase !== 'failed',
      ready,
      reason,
      store: this.#opened?.describe,
      storeError: this.#health.error,
      backend: this.#config?.backend.type,
      iface: this.#iface,
      lease: lease && {
        subnet: formatCidr(lease.subnet),
        ...(lease.ipv6Subnet ? { ipv6Subnet: formatCidr6(lease.ipv6Subnet) } : {}),
        publicIp: lease.attrs.publicIp,
        ...(lease.attrs.publicIpv6 !== null ? { publicIpv6: lease.attrs.publicIpv6 } : {}),
        ...(mac ? { vtepMac: mac } : {}),
        expiresAt: lease.expiresAt,
        reservation: lease.reservation,
      },
      peers: this.#manager?.peers().length ?? 0,
      tableSize: this.#backend?.size() ?? 0,
      renewals: this.#renewals,
      skippedPeers: this.#opened?.skipped?.() ?? 0,
    };
  }

  /** The data plane's counters and table (udp/vxlan), as `weft table --json` prints them. */
  stats(): DataPlaneStats | undefined {
    const dp = this.#backend?.dataPlane;
    return dp && !dp.closed ? dp.stats() : undefined;
  }

  /** Shuts down in order (see the top); the lease stays in the store. Idempotent. */
  async stop(): Promise<void> {
    if (this.#phase === 'stopped' || this.#phase === 'stopping') return;
    const wasStarting = this.#phase === 'starting';
    this.#phase = 'stopping';
    this.#abort.abort();
    if (wasStarting) await this.#starting?.catch(() => undefined);
    for (const t of this.#timers) clearTimeout(t);
    this.#timers = [];
    await this.#handoffServer?.close();
    await withTimeout(this.#manager?.stop() ?? Promise.resolve(), 800, 'stopping the lease manager').catch(() => undefined);
    for (const r of this.#rules) await r.stop();
    await this.#blackholes?.stop(); // the routes stay, as flanneld's
    await this.#peerChain;
    // The store closes before the data plane: forwarding goes on until the
    // last moment, so a restart's gap is as short as the process allows.
    await this.#closeStore();
    await this.#backend?.close();
    this.#phase = 'stopped';
  }

  async #closeStore(): Promise<void> {
    if (this.#opened?.owned) await withTimeout(this.#opened.store.close(), 500, 'closing the store').catch(() => undefined);
  }
}
