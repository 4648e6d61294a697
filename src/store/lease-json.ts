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
import { formatIPv6, parseIPv6 } from '../net/ip6';
import { normalizeMac } from '../net/mac';

export interface LeaseAttrs {
  /** Dotted IPv4; `0.0.0.0` when the node has none. */
  readonly publicIp: string;
  /** IPv6 as Go prints it (RFC 5952); null when the node publishes none. */
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
  const v6raw = f.PublicIPv6;
  if (v6raw !== undefined && v6raw !== null && typeof v6raw !== 'string') throw leaseError('PublicIPv6 must be a string or null');
  // ip.IP6 UnmarshalJSON: net.ParseIP; kept in Go's printed form so equal addresses compare equal.
  let v6: string | null = null;
  if (typeof v6raw === 'string') {
    const parsed = parseIPv6(v6raw);
    if (parsed === undefined) throw leaseError(`PublicIPv6 ${JSON.stringify(v6raw)} is not an IPv6 address`);
    v6 = formatIPv6(parsed);
  }
  const bt = f.BackendType;
  if (bt !== undefined && bt !== null && typeof bt !== 'string') throw leaseError('BackendType must be a string');
  const attrs: { -readonly [K in keyof LeaseAttrs]: LeaseAttrs[K] } = { publicIp, publicIpv6: v6 };
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

function macIn(data: JsonValue | undefined): string | undefined {
  if (!isJsonObject(data)) return undefined;
  const mac = foldFields(data, ['VtepMAC'] as const).VtepMAC;
  return typeof mac === 'string' ? normalizeMac(mac) : undefined;
}

/** The peer's VtepMAC from BackendData (key matched case-insensitively, as Go), normalized; undefined when absent or bad. */
export function vtepMacOf(attrs: LeaseAttrs): string | undefined {
  return macIn(attrs.backendData);
}

/** The peer's IPv6 VtepMAC (of its flannel-v6.<VNI>, or weft's one device) from BackendV6Data. */
export function vtepMacV6Of(attrs: LeaseAttrs): string | undefined {
  return macIn(attrs.backendV6Data);
}

/**
 * The attrs a node of the given backend publishes (flannel-facts §2 "Per
 * backend what gets written"). `publicIp` is `0.0.0.0` on an IPv6-only node;
 * with `publicIpv6` a vxlan node also writes BackendV6Data. weft's one TUN
 * device carries both families, so both data objects carry the same VtepMAC
 * (flanneld's two kernel devices have two).
 */
export function leaseAttrsFor(
  backend: 'udp' | 'vxlan' | 'host-gw',
  publicIp: string,
  vxlan?: { vni: number; vtepMac: string },
  opts: { publicIpv6?: string | undefined; ipv4?: boolean } = {},
): LeaseAttrs {
  if (!isIPv4(publicIp))
    throw new WeftError(ErrorCode.INVALID_OPTION, `publicIp must be an IPv4 address, got ${JSON.stringify(publicIp)}`, {
      option: 'publicIp',
    });
  let publicIpv6: string | null = null;
  if (opts.publicIpv6 !== undefined) {
    const v6 = parseIPv6(opts.publicIpv6);
    if (v6 === undefined)
      throw new WeftError(ErrorCode.INVALID_OPTION, `publicIpv6 must be an IPv6 address, got ${JSON.stringify(opts.publicIpv6)}`, {
        option: 'publicIpv6',
      });
    publicIpv6 = formatIPv6(v6);
  }
  const ipv4 = opts.ipv4 ?? true;
  switch (backend) {
    case 'udp':
      return Object.freeze({ publicIp, publicIpv6 });
    case 'host-gw':
      return Object.freeze({ publicIp, publicIpv6, backendType: 'host-gw' });
    case 'vxlan': {
      if (!vxlan) throw new WeftError(ErrorCode.INVALID_OPTION, 'vtepMac is required for a vxlan lease', { option: 'vtepMac' });
      const data = vxlanBackendData(vxlan.vni, vxlan.vtepMac);
      return Object.freeze({
        publicIp,
        publicIpv6,
        backendType: 'vxlan',
        ...(ipv4 ? { backendData: data } : {}),
        ...(publicIpv6 !== null ? { backendV6Data: data } : {}),
      });
    }
  }
}

/** Structural equality of two attrs (same encoding). */
export function sameLeaseAttrs(a: LeaseAttrs, b: LeaseAttrs): boolean {
  return encodeLeaseAttrs(a) === encodeLeaseAttrs(b);
}
