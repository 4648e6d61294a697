// Startup steps of the agent that need no agent state: opening the store,
// reading (or seeding) the network config, choosing the VtepMAC, the host-gw
// check. agent.ts composes them in flanneld's order.

import { existsSync } from 'node:fs';
import { type NetworkConfig, parseNetworkConfig } from '../config/network-config';
import { readTable } from '../dataplane/stats';
import { ErrorCode, WeftError } from '../errors';
import { randomMac } from '../net/mac';
import { EmbeddedStore } from '../store/embedded-store';
import type { EtcdStore as EtcdStoreClass } from '../store/etcd-store';
import type { KubeStore as KubeStoreClass } from '../store/kube-store';
import type { LeaseStore } from '../store/lease-store';
import type { AgentOptions } from './agent-options';
import type { NodeState } from './node-state';
import { NotYet } from './retry';

export interface OpenedStore {
  readonly store: LeaseStore;
  /** The agent opened it and closes it on stop. */
  readonly owned: boolean;
  /** For logs and readiness: `etcd http://…` or `embedded /var/lib/weft/weft.db`. */
  readonly describe: string;
  readonly kind: 'etcd' | 'embedded' | 'kube' | 'custom';
  /** A cheap call that proves the store answers (default: getConfig()). */
  readonly probe?: () => Promise<void>;
  /** A VtepMAC the store remembers for this node (Kubernetes: its own backend-data). */
  readonly vtepMac?: () => Promise<string | undefined>;
  /** A public IP the store assigns this node (Kubernetes: node-public-ip). */
  readonly publicIp?: () => Promise<string | undefined>;
  /** Runs once the node is ready (Kubernetes: NetworkUnavailable=False). */
  readonly afterReady?: () => Promise<void>;
  /** Peers skipped because their records are malformed (for /metrics). */
  readonly skipped?: () => number;
}

/** How long an agent's embedded-store call waits for another process's lock, ms. */
export const kAgentBusyTimeoutMs = 500;

export function openStore(o: AgentOptions, dataDir: string): OpenedStore {
  if (o.store) return { store: o.store, owned: false, describe: 'custom store', kind: 'custom' };
  if (o.etcd) {
    // Loaded on demand: the etcd client (gRPC, protobufs) takes a few hundred
    // ms to load, and a restart re-attaches its data plane before this point.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { EtcdStore } = require('../store/etcd-store') as { EtcdStore: typeof EtcdStoreClass };
    const s = new EtcdStore(o.etcd);
    return { store: s, owned: true, describe: `etcd ${o.etcd.endpoints.join(',')}`, kind: 'etcd' };
  }
  if (o.kube) {
    // Loaded on demand, as etcd: the etcd and embedded paths never load it.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { KubeStore } = require('../store/kube-store') as { KubeStore: typeof KubeStoreClass };
    const { setNodeNetworkUnavailable, ...kube } = o.kube;
    const s = new KubeStore({
      ...kube,
      onSkip: (node, why) => o.logger?.warn('skipping node with malformed flannel annotations', { node, why }),
    });
    return {
      store: s,
      owned: true,
      describe: s.describe(),
      kind: 'kube',
      probe: () => s.ping(),
      vtepMac: () => s.ownVtepMac(),
      publicIp: () => s.nodePublicIp(),
      ...(setNodeNetworkUnavailable === false ? {} : { afterReady: () => s.setNetworkAvailable() }),
      skipped: () => s.skippedNodes,
    };
  }
  // A short lock wait: better-sqlite3 waits synchronously, so a long one would
  // freeze the agent's event loop (health server, watch) while another
  // process holds the database; a busy store is retried with backoff instead.
  const s = new EmbeddedStore({ dataDir, busyTimeoutMs: kAgentBusyTimeoutMs });
  return { store: s, owned: true, describe: `embedded ${s.path}`, kind: 'embedded' };
}

/** The seed config from --net-config-path, validated before anything else happens. */
export function parseSeed(text: string | undefined): NetworkConfig | undefined {
  return text === undefined ? undefined : parseNetworkConfig(text);
}

/**
 * Reads the network config from the store. A store without one is seeded
 * from `seed` (embedded or custom stores only; flanneld never writes the
 * etcd config), otherwise NotYet is thrown so the caller retries, as
 * flanneld polls for it. An invalid stored config is a hard error.
 */
export async function readNetworkConfig(
  opened: OpenedStore,
  seed: string | undefined,
  warn: (msg: string) => void,
): Promise<NetworkConfig> {
  const text = await opened.store.getConfig();
  if (text === undefined) {
    if (seed !== undefined && opened.kind !== 'etcd') {
      await opened.store.putConfig(seed);
      return parseNetworkConfig(seed);
    }
    if (opened.kind === 'etcd') {
      throw new NotYet('flannel config not found in etcd store. Did you create your config using etcdv3 API?');
    }
    throw new NotYet(`no network config in the ${opened.describe}: give --net-config-path to seed it`);
  }
  if (seed !== undefined && seed.trim() !== text.trim()) {
    warn("the store already holds a network config that differs from --net-config-path; using the store's");
  }
  return parseNetworkConfig(text);
}

/**
 * The VtepMAC to publish, stable across restarts: the one in the state file,
 * else the one in a table left by an earlier run, else a new random one.
 */
export function chooseVtepMac(state: NodeState | undefined, tablePath: string): { mac: string; from: string } {
  if (state?.vtepMac && state.backend === 'vxlan') return { mac: state.vtepMac, from: 'state file' };
  if (existsSync(tablePath)) {
    try {
      const mac = readTable(tablePath).vtepMac;
      if (mac && mac !== '00:00:00:00:00:00') return { mac, from: 'table' };
    } catch {
      // unreadable or another layout: start fresh
    }
  }
  return { mac: randomMac(), from: 'new' };
}

export function hostGwCheck(publicIp: string, ifaceAddress: string): void {
  if (publicIp !== ifaceAddress) {
    throw new WeftError(
      ErrorCode.INVALID_OPTION,
      "your PublicIP differs from interface IP, meaning that probably you're on a NAT, which is not supported by host-gw backend",
      { option: 'public-ip' },
    );
  }
}
