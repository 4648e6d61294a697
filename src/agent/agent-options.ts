// Agent options: what `weft run` (or an embedder) asks for. Validated flat,
// before anything touches the host or the store; every failure is a
// WeftError(INVALID_OPTION) whose `option` is the flanneld flag name
// (`subnet-lease-renew-margin`), so the CLI can report it as such.

import type { EtcdStoreOptions } from '../store/etcd-store';
import type { KubeStoreOptions } from '../store/kube-store';
import type { LeaseStore } from '../store/lease-store';
import type { NativeEngineFds } from '../dataplane/native';
import type { CommandRunner } from '../host/exec';
import { invalidOption } from '../errors';
import { DEFAULT_SUBNET_FILE } from '../host/subnet-env';
import { DEFAULT_LEASE_TTL_SEC, DEFAULT_RENEW_MARGIN_MINUTES } from '../lease/lease-manager';
import { dirname, join } from 'node:path';
import { defaultStateFile } from './node-state';

/** Structured log sink. The library never prints; the CLI passes its logger. */
export interface AgentLogger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export const silentLogger: AgentLogger = { debug() {}, info() {}, warn() {}, error() {} };

export interface AgentOptions {
  /**
   * The lease store. Pass your own LeaseStore implementation to embed weft's
   * lease handling in another control plane; the agent does not close it.
   * Otherwise the agent opens etcd (when `etcd` is given) or the embedded
   * store in `dataDir`, and closes it on stop().
   */
  store?: LeaseStore;
  etcd?: EtcdStoreOptions;
  /**
   * Kubernetes mode (flanneld --kube-subnet-mgr): the lease is this node's
   * podCIDR, peers are the nodes' flannel annotations. `setNodeNetworkUnavailable`
   * (default true) sets the NetworkUnavailable=False condition once ready.
   */
  kube?: KubeStoreOptions & { setNodeNetworkUnavailable?: boolean };
  /** Embedded store directory (default /var/lib/weft). */
  dataDir?: string;
  /** Network config JSON that seeds a store without one (flanneld: --net-config-path). */
  networkConfig?: string;
  iface?: string[];
  ifaceRegex?: string[];
  /** `--iface-can-reach`: the interface the kernel routes this IP through. */
  ifaceCanReach?: string;
  publicIp?: string;
  /** flanneld --public-ipv6: the IPv6 address published in the lease (EnableIPv6); default the interface's global IPv6 address. */
  publicIpv6?: string;
  /** Default /run/flannel/subnet.env. */
  subnetFile?: string;
  /** What weft created, for restarts and `weft cleanup`; default `<subnetFile>.weft.json`. */
  stateFile?: string;
  /** Minutes, 1..1439 (default 60). */
  subnetLeaseRenewMargin?: number;
  /** Lease TTL in seconds (default 86400, flannel's 24 h). When not above the margin, renewal happens at half the TTL. */
  subnetLeaseTtl?: number;
  ipMasq?: boolean;
  ipMasqFullyRandomDisable?: boolean;
  /** FORWARD accept rules for the Network (default true, as flanneld). */
  iptablesForwardRules?: boolean;
  /** Seconds between rule checks (default 5); also the blackhole route's check period. */
  iptablesResync?: number;
  /** `--ip-blackhole-route`: a blackhole route for the own lease in each family, kept while running. */
  ipBlackholeRoute?: boolean;
  queues?: number;
  tablePath?: string;
  /** Keep the TUN device and table on stop, for a restart to re-attach (default true). */
  persist?: boolean;
  allowUnknownPeers?: boolean;
  /** Accept a decapsulated packet only if its inner source lies in the sending peer's lease (DataPlane checkInnerSource). */
  checkInnerSource?: boolean;
  /** Delay cap of the store retry backoff, ms (default 5000). */
  retryMaxMs?: number;
  /**
   * Hand-off (default true): at start, take the running data plane over from
   * a predecessor listening on `handoffSocket`; once ready, listen there to
   * hand it to a successor. Default socket: `weft.sock` beside the state file.
   */
  handoff?: boolean;
  handoffSocket?: string;
  /**
   * systemd's file-descriptor store: fds systemd passed to this start
   * (systemd.ts listenFds), taken over with the state file's description, and
   * `fdStore: true` parks the data plane's fds there once ready.
   */
  listenFds?: NativeEngineFds;
  fdStore?: boolean;
  logger?: AgentLogger;
  /** Runs ip/iptables (default: in this process's network namespace). */
  run?: CommandRunner;
}

export interface ResolvedAgentOptions {
  readonly subnetFile: string;
  readonly stateFile: string;
  readonly dataDir: string;
  readonly renewMarginMs: number;
  readonly ttlSec: number;
  readonly ipMasq: boolean;
  readonly randomFullyDisabled: boolean;
  readonly forwardRules: boolean;
  readonly blackholeRoute: boolean;
  readonly resyncMs: number;
  readonly persist: boolean;
  readonly allowUnknownPeers: boolean;
  readonly checkInnerSource: boolean;
  readonly retryMaxMs: number;
  /** undefined when hand-off is off. */
  readonly handoffSocket: string | undefined;
}

function int(option: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalidOption(option, `an integer from ${min} to ${max}`, value);
  }
  return value;
}

export function resolveAgentOptions(o: AgentOptions): ResolvedAgentOptions {
  const margin = int('subnet-lease-renew-margin', o.subnetLeaseRenewMargin ?? DEFAULT_RENEW_MARGIN_MINUTES, 1, 1439);
  const ttlSec = int('subnet-lease-ttl', o.subnetLeaseTtl ?? DEFAULT_LEASE_TTL_SEC, 2, 10 * 365 * 86400);
  // flannel renews at expiry − margin; a TTL shorter than the margin (tests) renews at half the TTL.
  const renewMarginMs = margin * 60_000 < ttlSec * 1000 ? margin * 60_000 : (ttlSec * 1000) / 2;
  if (o.queues !== undefined) int('queues', o.queues, 1, 16);
  if (o.store && o.etcd) throw invalidOption('etcd-endpoints', 'absent when a store is passed in', o.etcd.endpoints);
  if (o.kube && (o.store || o.etcd))
    throw invalidOption('kube-subnet-mgr', 'not combined with --etcd-endpoints or a store passed in', true);
  const subnetFile = o.subnetFile ?? DEFAULT_SUBNET_FILE;
  if (typeof subnetFile !== 'string' || subnetFile === '') throw invalidOption('subnet-file', 'a file path', subnetFile);
  const stateFile = o.stateFile ?? defaultStateFile(subnetFile);
  const handoffSocket = o.handoff === false ? undefined : (o.handoffSocket ?? join(dirname(stateFile), 'weft.sock'));
  if (handoffSocket !== undefined && (typeof handoffSocket !== 'string' || handoffSocket === '' || Buffer.byteLength(handoffSocket) > 107))
    throw invalidOption('handoff-socket', 'a socket path of at most 107 bytes', handoffSocket);
  return Object.freeze({
    subnetFile,
    stateFile,
    dataDir: o.dataDir ?? '/var/lib/weft',
    renewMarginMs,
    ttlSec,
    ipMasq: o.ipMasq ?? false,
    randomFullyDisabled: o.ipMasqFullyRandomDisable ?? false,
    forwardRules: o.iptablesForwardRules ?? true,
    blackholeRoute: o.ipBlackholeRoute ?? false,
    resyncMs: int('iptables-resync', o.iptablesResync ?? 5, 1, 86400) * 1000,
    persist: o.persist ?? true,
    allowUnknownPeers: o.allowUnknownPeers ?? false,
    checkInnerSource: o.checkInnerSource ?? false,
    retryMaxMs: o.retryMaxMs ?? 5000,
    handoffSocket,
  });
}
