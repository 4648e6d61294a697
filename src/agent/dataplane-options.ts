// The data plane an agent asks for, built in one place: from the lease and
// network config on a normal start, from the state file when a restart
// re-attaches before the store answers. Both must ask for the same thing, or
// a re-attached data plane would be closed and opened anew for nothing.

import { type DataPlaneBackend, type DataPlaneOptions, type ResolvedOptions, kOverhead } from '../dataplane/options';
import type { DataPlane } from '../dataplane/dataplane';
import { formatCidr } from '../net/cidr';
import { type Cidr6, formatCidr6 } from '../net/cidr6';
import type { NodeState } from './node-state';

/**
 * The IPv6 options of DataPlane.open (the v6path contract: `publicIpv6`,
 * `ipv6Network`, `ipv6Subnet`; network/subnet/publicIp optional for an
 * IPv6-only node). Declared here until options.ts carries them, so the agent
 * compiles against either.
 */
export interface DataPlaneIpv6Options {
  publicIpv6?: string;
  ipv6Network?: string;
  ipv6Subnet?: string;
}

/** What identifies a node's data plane: the state file records exactly this. */
export interface DataPlaneShape {
  backend: DataPlaneBackend;
  device: string;
  /** IPv4 Network and lease subnet; empty strings on an IPv6-only node. */
  network: string;
  subnet: string;
  /** Dual stack / IPv6-only: the IPv6Network and the IPv6 lease subnet. */
  ipv6Network?: string | undefined;
  ipv6Subnet?: string | undefined;
  port: number;
  /** vxlan only. */
  vni?: number | undefined;
  /** vxlan only. */
  vtepMac?: string | undefined;
  /** The overlay (TUN) MTU. */
  mtu: number;
  tablePath: string;
}

/** The agent's settings that shape every data plane it opens. */
export interface DataPlaneTuning {
  queues?: number | undefined;
  persist: boolean;
  allowUnknownPeers: boolean;
  checkInnerSource: boolean;
}

/** The overlay MTU: the underlay's (a vxlan `MTU` in the config wins) less the encapsulation overhead. */
export function overlayMtu(backend: DataPlaneBackend, underlayMtu: number, configuredMtu = 0): number {
  const under = backend === 'vxlan' && configuredMtu > 0 ? configuredMtu : underlayMtu;
  return under - kOverhead[backend];
}

/** The data plane a state file records (udp/vxlan with every field), else undefined. */
export function shapeOfState(state: NodeState | undefined): DataPlaneShape | undefined {
  if (!state || (state.backend !== 'udp' && state.backend !== 'vxlan')) return undefined;
  if (!state.device || !state.tablePath || state.port === undefined || state.mtu === undefined) return undefined;
  if (state.backend === 'vxlan' && (state.vni === undefined || !state.vtepMac)) return undefined;
  return {
    backend: state.backend,
    device: state.device,
    network: state.network,
    subnet: state.subnet,
    ...(state.ipv6Network && state.ipv6Subnet ? { ipv6Network: state.ipv6Network, ipv6Subnet: state.ipv6Subnet } : {}),
    port: state.port,
    vni: state.vni,
    vtepMac: state.vtepMac,
    mtu: state.mtu,
    tablePath: state.tablePath,
  };
}

/** The shape of an open data plane, as a successor re-creates it. */
export function shapeOf(dp: DataPlane): DataPlaneShape {
  const o = dp.options;
  const v6 = ipv6Of(o);
  return {
    backend: o.backend,
    device: o.device,
    network: o.network ? formatCidr(o.network) : '',
    subnet: o.subnet ? formatCidr(o.subnet) : '',
    ...(v6.ipv6Network && v6.ipv6Subnet ? { ipv6Network: v6.ipv6Network, ipv6Subnet: v6.ipv6Subnet } : {}),
    port: o.port,
    ...(o.backend === 'vxlan' ? { vni: o.vni, vtepMac: dp.vtepMac } : {}),
    mtu: o.mtu,
    tablePath: o.tablePath,
  };
}

/** The IPv6 fields of resolved options (printed), whatever form the data plane keeps them in. */
function ipv6Of(o: ResolvedOptions): DataPlaneIpv6Options {
  const r = o as unknown as Record<string, unknown>;
  const text = (v: unknown): string | undefined =>
    v === undefined || v === null
      ? undefined
      : typeof v === 'string'
        ? v
        : typeof v === 'object' && 'ip' in v
          ? formatCidr6(v as Cidr6)
          : String(v);
  const out: DataPlaneIpv6Options = {};
  const pub = r.publicIpv6;
  if (typeof pub === 'string') out.publicIpv6 = pub;
  const net = text(r.ipv6Network);
  const sub = text(r.ipv6Subnet);
  if (net) out.ipv6Network = net;
  if (sub) out.ipv6Subnet = sub;
  return out;
}

export function dataPlaneOptions(
  shape: DataPlaneShape,
  publicIp: string,
  t: DataPlaneTuning,
  publicIpv6?: string,
): DataPlaneOptions & DataPlaneIpv6Options {
  const v4 = shape.network !== '' && shape.subnet !== '';
  const v6 = shape.ipv6Network && shape.ipv6Subnet && publicIpv6;
  return {
    backend: shape.backend,
    device: shape.device,
    // IPv6-only: DataPlane.open takes no IPv4 fields (the v6path contract).
    ...((v4 ? { publicIp, network: shape.network, subnet: shape.subnet } : {}) as Pick<
      DataPlaneOptions,
      'publicIp' | 'network' | 'subnet'
    >),
    ...(v6 ? { publicIpv6, ipv6Network: shape.ipv6Network!, ipv6Subnet: shape.ipv6Subnet! } : {}),
    port: shape.port,
    ...(shape.backend === 'vxlan' ? { vni: shape.vni!, vtepMac: shape.vtepMac! } : {}),
    mtu: shape.mtu,
    ...(t.queues !== undefined ? { queues: t.queues } : {}),
    tablePath: shape.tablePath,
    persist: t.persist,
    allowUnknownPeers: t.allowUnknownPeers,
    checkInnerSource: t.checkInnerSource,
  };
}

/** Does an open data plane already do what `want` asks (so a restart keeps it)? */
export function sameDataPlane(have: ResolvedOptions, haveMac: string | undefined, want: DataPlaneOptions & DataPlaneIpv6Options): boolean {
  const v6 = ipv6Of(have);
  return (
    have.backend === want.backend &&
    have.device === want.device &&
    (have.publicIp ?? undefined) === (want.publicIp ?? undefined) &&
    (have.network ? formatCidr(have.network) : undefined) === (want.network ?? undefined) &&
    (have.subnet ? formatCidr(have.subnet) : undefined) === (want.subnet ?? undefined) &&
    v6.publicIpv6 === want.publicIpv6 &&
    v6.ipv6Network === want.ipv6Network &&
    v6.ipv6Subnet === want.ipv6Subnet &&
    have.port === want.port &&
    have.mtu === want.mtu &&
    have.tablePath === want.tablePath &&
    (want.backend !== 'vxlan' || (have.vni === want.vni && haveMac === want.vtepMac)) &&
    have.allowUnknownPeers === (want.allowUnknownPeers ?? false) &&
    have.checkInnerSource === (want.checkInnerSource ?? false) &&
    (want.queues === undefined || have.queues === want.queues)
  );
}
