// flannel's lease value JSON (flannel-facts §2, Go struct lease.LeaseAttrs).
//
// Encoding is byte-exact with Go's encoding/json for the values flannel
// writes: fields in struct order, PublicIPv6 always present (null when
// unset), BackendType/BackendData/BackendV6Data omitted when empty, raw
// backend data compacted with Go's HTML escaping.
//
//   {"PublicIP":"192.168.64.3","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}}
//
// Decoding follows Go too: keys match case-insensitively, unknown keys are
// ignored, PublicIP must be IPv4. One known gap: raw backend data is held as
// a parsed value, so a number written as `1.0` comes back as `1`, and
// integer-like object keys would be reordered by JavaScript (flannel never
// writes either).

import { ErrorCode, WeftError } from '../errors';
import { type JsonValue, foldFields, goJsonStringify, isJsonObject } from '../config/go-json';
import { isIPv4 } from '../net/ip';
import { normalizeMac } from '../net/mac';

export interface LeaseAttrs {
  /** Dotted IPv4; `0.0.0.0` when the node has none. */
  readonly publicIp: string;
  readonly publicIpv6: string | null;
  /** `vxlan`, `host-gw`…; absent for udp (flannel's udp backend sets none). */
  readonly backendType?: string;
  readonly backendData?: JsonValue;
  readonly backendV6Data?: JsonValue;
}

function leaseError(message: string, cause?: unknown): WeftError {
  return new WeftError(ErrorCode.STORE, `invalid lease JSON: ${message}`, cause === undefined ? {} : { cause });
}

/** Serializes attrs exactly as flanneld would write them into the store. */
export function encodeLeaseAttrs(attrs: LeaseAttrs): string {
  let out = `{"PublicIP":${goJsonStringify(attrs.publicIp)},"PublicIPv6":${
    attrs.publicIpv6 === null ? 'null' : goJsonStringify(attrs.publicIpv6)
  }`;
  if (attrs.backendType !== undefined && attrs.backendType !== '') {
    out += `,"BackendType":${goJsonStringify(attrs.backendType)}`;
  }
  if (attrs.backendData !== undefined) out += `,"BackendData":${goJsonStringify(attrs.backendData)}`;
  if (attrs.backendV6Data !== undefined) out += `,"BackendV6Data":${goJsonStringify(attrs.backendV6Data)}`;
  return `${out}}`;
}

const kLeaseFields = ['PublicIP', 'PublicIPv6', 'BackendType', 'BackendData', 'BackendV6Data'] as const;

/** Parses a lease value as written by flanneld or weft; throws WeftError(STORE) when it is not one. */
export function decodeLeaseAttrs(text: string | Buffer): LeaseAttrs {
  let root: JsonValue;
  try {
    root = JSON.parse(text.toString()) as JsonValue;
  } catch (err) {
    throw leaseError((err as Error).message, err);
  }
  if (!isJsonObject(root)) throw leaseError('not an object');
  const f = foldFields(root, kLeaseFields);
  // ip.IP4 UnmarshalJSON trims quotes and parses; missing means 0.0.0.0.
  const publicIp = f.PublicIP === undefined || f.PublicIP === null ? '0.0.0.0' : String(f.PublicIP);
  if (!isIPv4(publicIp)) throw leaseError(`PublicIP ${JSON.stringify(f.PublicIP)} is not an IPv4 address`);
  const v6 = f.PublicIPv6;
  if (v6 !== undefined && v6 !== null && typeof v6 !== 'string') throw leaseError('PublicIPv6 must be a string or null');
  const bt = f.BackendType;
  if (bt !== undefined && bt !== null && typeof bt !== 'string') throw leaseError('BackendType must be a string');
  const attrs: { -readonly [K in keyof LeaseAttrs]: LeaseAttrs[K] } = { publicIp, publicIpv6: v6 ?? null };
  if (typeof bt === 'string' && bt !== '') attrs.backendType = bt;
  if (f.BackendData !== undefined) attrs.backendData = f.BackendData;
  if (f.BackendV6Data !== undefined) attrs.backendV6Data = f.BackendV6Data;
  return Object.freeze(attrs);
}

/** `{"VNI":1,"VtepMAC":"…"}`: what a vxlan node publishes (VNI informational, MAC lower-case). */
export function vxlanBackendData(vni: number, vtepMac: string): JsonValue {
  const mac = normalizeMac(vtepMac);
  if (mac === undefined)
    throw new WeftError(ErrorCode.INVALID_OPTION, `vtepMac must be a MAC address, got ${JSON.stringify(vtepMac)}`, { option: 'vtepMac' });
  return { VNI: vni, VtepMAC: mac };
}

/** The peer's VtepMAC from BackendData (key matched case-insensitively, as Go), normalized; undefined when absent or bad. */
export function vtepMacOf(attrs: LeaseAttrs): string | undefined {
  const data = attrs.backendData;
  if (!isJsonObject(data)) return undefined;
  const mac = foldFields(data, ['VtepMAC'] as const).VtepMAC;
  return typeof mac === 'string' ? normalizeMac(mac) : undefined;
}

/** The attrs a node of the given backend publishes (flannel-facts §2 "Per backend what gets written"). */
export function leaseAttrsFor(
  backend: 'udp' | 'vxlan' | 'host-gw',
  publicIp: string,
  vxlan?: { vni: number; vtepMac: string },
): LeaseAttrs {
  if (!isIPv4(publicIp))
    throw new WeftError(ErrorCode.INVALID_OPTION, `publicIp must be an IPv4 address, got ${JSON.stringify(publicIp)}`, {
      option: 'publicIp',
    });
  switch (backend) {
    case 'udp':
      return Object.freeze({ publicIp, publicIpv6: null });
    case 'host-gw':
      return Object.freeze({ publicIp, publicIpv6: null, backendType: 'host-gw' });
    case 'vxlan':
      if (!vxlan) throw new WeftError(ErrorCode.INVALID_OPTION, 'vtepMac is required for a vxlan lease', { option: 'vtepMac' });
      return Object.freeze({ publicIp, publicIpv6: null, backendType: 'vxlan', backendData: vxlanBackendData(vxlan.vni, vxlan.vtepMac) });
  }
}

/** Structural equality of two attrs (same encoding). */
export function sameLeaseAttrs(a: LeaseAttrs, b: LeaseAttrs): boolean {
  return encodeLeaseAttrs(a) === encodeLeaseAttrs(b);
}
