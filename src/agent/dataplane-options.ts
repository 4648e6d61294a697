// The data plane an agent asks for, built in one place: from the lease and
// network config on a normal start, from the state file when a restart
// re-attaches before the store answers. Both must ask for the same thing, or
// a re-attached data plane would be closed and opened anew for nothing.

import { type DataPlaneBackend, type DataPlaneOptions, type ResolvedOptions, kOverhead } from '../dataplane/options';
import type { DataPlane } from '../dataplane/dataplane';
import { formatCidr } from '../net/cidr';
import { formatCidr6 } from '../net/cidr6';
import type { NodeState } from './node-state';

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
  /** Dual-stack vxlan: the PublicIPv6 its IPv6 sockets are bound to. */
  publicIpv6?: string | undefined;
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
    ...(state.publicIpv6 ? { publicIpv6: state.publicIpv6 } : {}),
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
    ...(v6.publicIpv6 ? { publicIpv6: v6.publicIpv6 } : {}),
    port: o.port,
    ...(o.backend === 'vxlan' ? { vni: o.vni, vtepMac: dp.vtepMac } : {}),
    mtu: o.mtu,
    tablePath: o.tablePath,
  };
}

/** The IPv6 fields of resolved options, printed as the agent's shape and options carry them. */
function ipv6Of(o: ResolvedOptions): { publicIpv6?: string; ipv6Network?: string; ipv6Subnet?: string } {
  return {
    ...(o.publicIpv6 !== undefined ? { publicIpv6: o.publicIpv6 } : {}),
    ...(o.ipv6Network ? { ipv6Network: formatCidr6(o.ipv6Network) } : {}),
    ...(o.ipv6Subnet ? { ipv6Subnet: formatCidr6(o.ipv6Subnet) } : {}),
  };
}

export function dataPlaneOptions(
  shape: DataPlaneShape,
  publicIp: string,
  t: DataPlaneTuning,
  publicIpv6 = shape.publicIpv6,
): DataPlaneOptions {
  const v4 = shape.network !== '' && shape.subnet !== '';
  const v6 = shape.ipv6Network && shape.ipv6Subnet && publicIpv6;
  return {
    backend: shape.backend,
    device: shape.device,
    // An IPv6-only node has no IPv4 fields (refused for vxlan by the agent; host-gw opens no data plane).
    ...((v4 ? { publicIp, network: shape.network, subnet: shape.subnet } : {}) as Pick<
      DataPlaneOptions,
      'publicIp' | 'network' | 'subnet'
    >),
    ...(v6 ? { publicIpv6, ipv6Network: shape.ipv6Network!, ipv6Subnet: shape.ipv6Subnet! } : {}),
    port: shape.port,
    // weft's one device: IPv6 frames use the same VtepMAC (the lease's BackendV6Data carries it too).
    ...(shape.backend === 'vxlan' ? { vni: shape.vni!, vtepMac: shape.vtepMac!, ...(v6 ? { vtepMacV6: shape.vtepMac! } : {}) } : {}),
    mtu: shape.mtu,
    ...(t.queues !== undefined ? { queues: t.queues } : {}),
    tablePath: shape.tablePath,
    persist: t.persist,
    allowUnknownPeers: t.allowUnknownPeers,
    checkInnerSource: t.checkInnerSource,
  };
}

/** Does an open data plane already do what `want` asks (so a restart keeps it)? */
export function sameDataPlane(have: ResolvedOptions, haveMac: string | undefined, want: DataPlaneOptions): boolean {
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
    have.vtepMacV6 === want.vtepMacV6 &&
    have.allowUnknownPeers === (want.allowUnknownPeers ?? false) &&
    have.checkInnerSource === (want.checkInnerSource ?? false) &&
    (want.queues === undefined || have.queues === want.queues)
  );
}
