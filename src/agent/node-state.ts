// The node's state file: what `weft run` created on this host, kept beside
// --subnet-file (`<subnet-file>.weft.json`, e.g. /run/flannel/subnet.env.weft.json).
//
// It serves three contracts:
// - the VtepMAC survives restarts even when /dev/shm (the table) was
//   cleaned: a restarted vxlan node publishes the same MAC;
// - a restart re-attaches the persistent device and table from what is
//   recorded here before it talks to the store, so forwarding resumes at once;
// - `weft cleanup` knows exactly which device, table file, rules and routes
//   to remove without guessing.
// Written atomically (temp + rename); a missing or unreadable file is "no state".

import { randomBytes } from 'node:crypto';
import { assertTrusted } from '../host/file-trust';
import { mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { normalizeMac } from '../net/mac';

export interface NodeState {
  readonly version: 1;
  readonly backend: 'udp' | 'vxlan' | 'host-gw';
  /** The TUN device (udp/vxlan); absent for host-gw. */
  readonly device?: string;
  readonly tablePath?: string;
  readonly vtepMac?: string;
  /**
   * What the data plane was opened with (udp/vxlan): with these, a restart
   * re-attaches the device and table before it reaches the store. Absent in
   * files written by older versions (no early re-attach then).
   */
  readonly port?: number;
  readonly vni?: number;
  readonly mtu?: number;
  /** IPv4 Network and subnet (empty strings on an IPv6-only node). */
  readonly network: string;
  readonly subnet: string;
  /** Dual stack / IPv6-only: the IPv6Network and the IPv6 lease subnet. */
  readonly ipv6Network?: string;
  readonly ipv6Subnet?: string;
  /** Dual-stack vxlan: the PublicIPv6 the data plane's IPv6 sockets are bound to. */
  readonly publicIpv6?: string;
  /** The external interface (host-gw routes go through it). */
  readonly iface: string;
  readonly ipMasq: boolean;
  readonly forwardRules: boolean;
  readonly randomFully: boolean;
}

export function defaultStateFile(subnetFile: string): string {
  return join(dirname(subnetFile), `${basename(subnetFile)}.weft.json`);
}

export function readNodeState(path: string): NodeState | undefined {
  // A planted state file could point us at another table or MAC: refuse it (throws).
  assertTrusted(dirname(path), 'directory', 'state directory', 'stateFile');
  assertTrusted(path, 'file', 'state file', 'stateFile');
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<NodeState>;
    if (parsed.version !== 1 || typeof parsed.network !== 'string' || typeof parsed.subnet !== 'string') return undefined;
    if (parsed.vtepMac !== undefined) {
      const mac = normalizeMac(String(parsed.vtepMac));
      if (!mac) return undefined;
      return { ...parsed, vtepMac: mac } as NodeState;
    }
    return parsed as NodeState;
  } catch {
    return undefined;
  }
}

export function writeNodeState(path: string, state: NodeState): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  assertTrusted(dirname(path), 'directory', 'state directory', 'stateFile');
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o644, flag: 'wx' });
    renameSync(tmp, path);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // never written
    }
    throw err;
  }
}

export function removeNodeState(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}
