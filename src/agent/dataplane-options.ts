// The data plane an agent asks for, built in one place: from the lease and
// network config on a normal start, from the state file when a restart
// re-attaches before the store answers. Both must ask for the same thing, or
// a re-attached data plane would be closed and opened anew for nothing.

import { type DataPlaneBackend, type DataPlaneOptions, type ResolvedOptions, kOverhead } from '../dataplane/options';
import type { DataPlane } from '../dataplane/dataplane';
import { formatCidr } from '../net/cidr';
import type { NodeState } from './node-state';

/** What identifies a node's data plane: the state file records exactly this. */
export interface DataPlaneShape {
  backend: DataPlaneBackend;
  device: string;
  network: string;
  subnet: string;
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
  return {
    backend: o.backend,
    device: o.device,
    network: formatCidr(o.network),
    subnet: formatCidr(o.subnet),
    port: o.port,
    ...(o.backend === 'vxlan' ? { vni: o.vni, vtepMac: dp.vtepMac } : {}),
    mtu: o.mtu,
    tablePath: o.tablePath,
  };
}

export function dataPlaneOptions(shape: DataPlaneShape, publicIp: string, t: DataPlaneTuning): DataPlaneOptions {
  return {
    backend: shape.backend,
    device: shape.device,
    publicIp,
    network: shape.network,
    subnet: shape.subnet,
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
export function sameDataPlane(have: ResolvedOptions, haveMac: string | undefined, want: DataPlaneOptions): boolean {
  return (
    have.backend === want.backend &&
    have.device === want.device &&
    have.publicIp === want.publicIp &&
    formatCidr(have.network) === want.network &&
    formatCidr(have.subnet) === want.subnet &&
    have.port === want.port &&
    have.mtu === want.mtu &&
    have.tablePath === want.tablePath &&
    (want.backend !== 'vxlan' || (have.vni === want.vni && haveMac === want.vtepMac)) &&
    have.allowUnknownPeers === (want.allowUnknownPeers ?? false) &&
    have.checkInnerSource === (want.checkInnerSource ?? false) &&
    (want.queues === undefined || have.queues === want.queues)
  );
}
