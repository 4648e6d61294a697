// flannel's network config JSON (flannel-facts §1): parsing, defaults and
// validation, with flannel's own error texts.
//
// Contract: parseNetworkConfig() either returns a frozen NetworkConfig with
// every default filled in, or throws a WeftError with code INVALID_CONFIG
// whose `option` names the field at fault (`SubnetLen`, `Backend.VNI`…).
// Order of checks follows flanneld: JSON decoding, Backend type decoding,
// CheckNetworkConfig, then the backend's own options.

import { ErrorCode, WeftError, describe } from '../errors';
import { type Cidr, cidrContainsIp, maskOf, parseCidr } from '../net/cidr';
import { type Cidr6, cidr6ContainsIp, mask6Of, parseCidr6 } from '../net/cidr6';
import { formatIPv4, parseIPv4 } from '../net/ip';
import { formatIPv6, parseIPv6 } from '../net/ip6';
import { type JsonValue, foldFields, goField, isJsonObject, jsonTypeName } from './go-json';

export type BackendType = 'udp' | 'vxlan' | 'host-gw';

export const UDP_DEFAULT_PORT = 8285;
/** The kernel's VXLAN port, used when `Backend.Port` is 0 (flannel lets the kernel choose). */
export const VXLAN_KERNEL_DEFAULT_PORT = 8472;
export const VXLAN_DEFAULT_VNI = 1;
const kMaxVni = 0xffffff;

/** Backends flannel registers that weft does not implement. */
const kFlannelOnlyBackends = ['ipip', 'ipsec', 'wireguard', 'extension', 'alloc', 'tencent-vpc'];

export interface UdpBackendConfig {
  readonly type: 'udp';
  readonly port: number;
}

export interface VxlanBackendConfig {
  readonly type: 'vxlan';
  readonly vni: number;
  /** As configured: 0 means the kernel default; see `effectivePort`. */
  readonly port: number;
  /** The UDP port actually used (8472 when `port` is 0). */
  readonly effectivePort: number;
  /** Underlay MTU to derive the device MTU from; 0 = the external interface's MTU. */
  readonly mtu: number;
  readonly gbp: boolean;
  readonly learning: boolean;
  readonly directRouting: boolean;
}

export interface HostGwBackendConfig {
  readonly type: 'host-gw';
}

export type BackendConfig = UdpBackendConfig | VxlanBackendConfig | HostGwBackendConfig;

/** The IPv6 half of a dual-stack or IPv6-only config (EnableIPv6). */
export interface Ipv6NetworkConfig {
  readonly network: Cidr6;
  readonly subnetLen: number;
  /** First and last allocatable subnet addresses (aligned to subnetLen). */
  readonly subnetMin: bigint;
  readonly subnetMax: bigint;
}

/**
 * A validated network config; every number is resolved, the object is frozen.
 * With EnableIPv4 false (IPv6-only) the IPv4 fields hold flannel's zero
 * values (network 0.0.0.0/0, subnetLen/Min/Max 0) and mean nothing: check
 * `enableIPv4` first. `ipv6` is present exactly when EnableIPv6 is true.
 */
export interface NetworkConfig {
  readonly network: Cidr;
  readonly subnetLen: number;
  /** First and last allocatable subnet addresses (host order, aligned to subnetLen). */
  readonly subnetMin: number;
  readonly subnetMax: number;
  readonly enableIPv4: boolean;
  readonly enableIPv6: boolean;
  readonly ipv6?: Ipv6NetworkConfig;
  readonly enableNFTables: boolean;
  readonly backend: BackendConfig;
}

const kFields = [
  'EnableIPv4',
  'EnableIPv6',
  'EnableNFTables',
  'Network',
  'IPv6Network',
  'SubnetMin',
  'SubnetMax',
  'IPv6SubnetMin',
  'IPv6SubnetMax',
  'SubnetLen',
  'IPv6SubnetLen',
  'Backend',
] as const;

function configError(option: string | undefined, message: string): WeftError {
  return new WeftError(ErrorCode.INVALID_CONFIG, message, option === undefined ? {} : { option });
}

function typed(struct: string, option: string, field: string, value: JsonValue | undefined, kind: 'string' | 'int' | 'bool') {
  const r = goField(struct, field, value, kind);
  if (!r.ok) throw configError(option, r.message);
  return r.value;
}

/** flannel's ip.IP4Net UnmarshalJSON: quotes trimmed, then net.ParseCIDR (host bits masked). */
function decodeNetwork(value: JsonValue): Cidr {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  const cidr = parseCidr(text);
  if (cidr) return cidr;
  if (/^[0-9a-fA-F:.]*:[0-9a-fA-F:.]*\/\d{1,3}$/.test(text)) throw configError('Network', 'invalid IPv4 CIDR format');
  throw configError('Network', `invalid CIDR address: ${text}`);
}

/** flannel's ip.IP4 UnmarshalJSON: quotes trimmed, then net.ParseIP. */
function decodeIp(option: string, value: JsonValue): number {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  const ip = parseIPv4(text);
  if (ip === undefined) throw configError(option, 'invalid IP address format');
  return ip;
}

/** flannel's ip.IP6Net UnmarshalJSON: quotes trimmed, then net.ParseCIDR (host bits masked). */
function decodeNetwork6(value: JsonValue): Cidr6 {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  const cidr = parseCidr6(text);
  if (cidr) return cidr;
  // Go would take an IPv4 CIDR as a v4-mapped one; weft names the mistake instead.
  if (parseCidr(text)) throw configError('IPv6Network', 'invalid IPv6 CIDR format');
  throw configError('IPv6Network', `invalid CIDR address: ${text}`);
}

/** flannel's ip.IP6 UnmarshalJSON: quotes trimmed, then net.ParseIP (an IPv4 text becomes v4-mapped, as in Go). */
function decodeIp6(option: string, value: JsonValue): bigint {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  const v4 = parseIPv4(text);
  if (v4 !== undefined) return 0xffff00000000n | BigInt(v4);
  const ip = parseIPv6(text);
  if (ip === undefined) throw configError(option, 'Invalid IP address format');
  return ip;
}

/** Parses and validates flannel network config JSON (text or an already-parsed value). */
export function parseNetworkConfig(input: string | Buffer | JsonValue): NetworkConfig {
  let root: JsonValue;
  if (typeof input === 'string' || Buffer.isBuffer(input)) {
    try {
      root = JSON.parse(input.toString()) as JsonValue;
    } catch (err) {
      throw new WeftError(ErrorCode.INVALID_CONFIG, `network config is not valid JSON: ${(err as Error).message}`, {
        cause: err,
      });
    }
  } else {
    root = input;
  }
  if (!isJsonObject(root)) {
    throw configError(undefined, `json: cannot unmarshal ${jsonTypeName(root)} into Go value of type subnet.Config`);
  }
  const f = foldFields(root, kFields);

  // Decoding, in Go struct field order.
  const enableIPv4 = (typed('Config', 'EnableIPv4', 'EnableIPv4', f.EnableIPv4, 'bool') as boolean | undefined) ?? true;
  const enableIPv6 = (typed('Config', 'EnableIPv6', 'EnableIPv6', f.EnableIPv6, 'bool') as boolean | undefined) ?? false;
  const enableNFTables = typed('Config', 'EnableNFTables', 'EnableNFTables', f.EnableNFTables, 'bool') ?? false;
  const network = f.Network === undefined ? undefined : decodeNetwork(f.Network);
  const ipv6Network = f.IPv6Network === undefined || f.IPv6Network === null ? undefined : decodeNetwork6(f.IPv6Network);
  const subnetMin = f.SubnetMin === undefined ? 0 : decodeIp('SubnetMin', f.SubnetMin);
  const subnetMax = f.SubnetMax === undefined ? 0 : decodeIp('SubnetMax', f.SubnetMax);
  const ipv6SubnetMin = f.IPv6SubnetMin === undefined || f.IPv6SubnetMin === null ? 0n : decodeIp6('IPv6SubnetMin', f.IPv6SubnetMin);
  const ipv6SubnetMax = f.IPv6SubnetMax === undefined || f.IPv6SubnetMax === null ? 0n : decodeIp6('IPv6SubnetMax', f.IPv6SubnetMax);
  const subnetLen = (typed('Config', 'SubnetLen', 'SubnetLen', f.SubnetLen, 'int') as number | undefined) ?? 0;
  const ipv6SubnetLen = (typed('Config', 'IPv6SubnetLen', 'IPv6SubnetLen', f.IPv6SubnetLen, 'int') as number | undefined) ?? 0;
  const backendType = parseBackendType(f.Backend);

  // flanneld: GetIPFamily(false, false) fails with "none defined stack".
  if (!enableIPv4 && !enableIPv6) throw configError('EnableIPv4', 'none defined stack: EnableIPv4 and EnableIPv6 are both false');
  // CheckNetworkConfig: the IPv4 part, then the IPv6 part, then the backend's own options.
  const v4 = enableIPv4 ? checkIpv4(network, subnetLen, subnetMin, subnetMax) : kNoIpv4;
  const ipv6 = enableIPv6 ? checkIpv6(ipv6Network, ipv6SubnetLen, ipv6SubnetMin, ipv6SubnetMax) : undefined;
  const backend = parseBackend(backendType, f.Backend);
  if (ipv6 && backend.type === 'udp') {
    // flannel's udp backend is IPv4-only (a udp4 socket, IPv4 TTL handling); so is weft's.
    throw configError('Backend.Type', 'the udp backend carries IPv4 only: use vxlan or host-gw with EnableIPv6');
  }
  return Object.freeze({
    ...v4,
    enableIPv4,
    enableIPv6,
    ...(ipv6 ? { ipv6 } : {}),
    enableNFTables: enableNFTables as boolean,
    backend: Object.freeze(backend),
  });
}

/** flannel's zero IPv4 values, kept when EnableIPv4 is false. */
const kNoIpv4 = Object.freeze({ network: Object.freeze({ ip: 0, prefixLen: 0 }), subnetLen: 0, subnetMin: 0, subnetMax: 0 });

/** CheckNetworkConfig, IPv4 part, with flannel's messages (flannel-facts §1). */
function checkIpv4(
  network: Cidr | undefined,
  len: number,
  min: number,
  max: number,
): { network: Cidr; subnetLen: number; subnetMin: number; subnetMax: number } {
  let subnetLen = len;
  let subnetMin = min;
  let subnetMax = max;
  if (network === undefined || (network.ip === 0 && network.prefixLen === 0)) {
    throw configError('Network', 'please define a correct Network parameter in the flannel config');
  }
  if (subnetLen < 0) throw configError('SubnetLen', `SubnetLen must not be negative, got ${subnetLen}`); // weft: flannel treats it as unset
  if (subnetLen > 0) {
    if (subnetLen > 30) throw configError('SubnetLen', 'SubnetLen must be less than /31');
    if (subnetLen < network.prefixLen + 2) {
      throw configError('SubnetLen', 'network must be able to accommodate at least four subnets');
    }
  } else {
    if (network.prefixLen > 28) {
      throw configError('Network', 'network is too small. Minimum useful network prefix is /28');
    }
    subnetLen = network.prefixLen <= 22 ? 24 : network.prefixLen + 2;
  }
  const subnetSize = 2 ** (32 - subnetLen);
  if (subnetMin === 0) subnetMin = network.ip + subnetSize;
  else if (!cidrContainsIp(network, subnetMin)) {
    throw configError('SubnetMin', 'SubnetMin is not in the range of the Network');
  }
  if (subnetMax === 0) subnetMax = network.ip + 2 ** (32 - network.prefixLen) - subnetSize;
  else if (!cidrContainsIp(network, subnetMax)) {
    throw configError('SubnetMax', 'SubnetMax is not in the range of the Network');
  }
  const mask = maskOf(subnetLen);
  if ((subnetMin & mask) >>> 0 !== subnetMin) {
    throw configError('SubnetMin', `SubnetMin is not on a SubnetLen boundary: ${formatIPv4(subnetMin)}`);
  }
  if ((subnetMax & mask) >>> 0 !== subnetMax) {
    throw configError('SubnetMax', `SubnetMax is not on a SubnetLen boundary: ${formatIPv4(subnetMax)}`);
  }
  // Like flannel, SubnetMin > SubnetMax is not an error: it just leaves no free subnet.
  return { network: Object.freeze({ ...network }), subnetLen, subnetMin, subnetMax };
}

/** CheckNetworkConfig, IPv6 part, with flannel's messages (flannel-facts §1). */
function checkIpv6(network: Cidr6 | undefined, len: number, min: bigint, max: bigint): Ipv6NetworkConfig {
  if (network === undefined || (network.ip === 0n && network.prefixLen === 0)) {
    throw configError('IPv6Network', 'please define a correct IPv6Network parameter in the flannel config');
  }
  let subnetLen = len;
  if (subnetLen < 0) throw configError('IPv6SubnetLen', `IPv6SubnetLen must not be negative, got ${subnetLen}`); // weft: flannel's is unsigned
  if (subnetLen > 0) {
    if (subnetLen > 126) throw configError('IPv6SubnetLen', 'SubnetLen must be less than /127');
    if (subnetLen < network.prefixLen + 2) {
      throw configError('IPv6SubnetLen', 'network must be able to accommodate at least four subnets');
    }
  } else {
    if (network.prefixLen > 124) {
      throw configError('IPv6Network', 'IPv6Network is too small. Minimum useful network prefix is /124');
    }
    subnetLen = network.prefixLen <= 62 ? 64 : network.prefixLen + 2;
  }
  const size = 1n << BigInt(128 - subnetLen);
  let subnetMin = min;
  let subnetMax = max;
  if (subnetMin === 0n) subnetMin = network.ip + size;
  else if (!cidr6ContainsIp(network, subnetMin)) {
    throw configError('IPv6SubnetMin', 'IPv6SubnetMin is not in the range of the IPv6Network');
  }
  if (subnetMax === 0n) subnetMax = network.ip + (1n << BigInt(128 - network.prefixLen)) - size;
  else if (!cidr6ContainsIp(network, subnetMax)) {
    throw configError('IPv6SubnetMax', 'IPv6SubnetMax is not in the range of the IPv6Network');
  }
  const mask = mask6Of(subnetLen);
  if ((subnetMin & mask) !== subnetMin) {
    throw configError('IPv6SubnetMin', `IPv6SubnetMin is not on a SubnetLen boundary: ${formatIPv6(subnetMin)}`);
  }
  if ((subnetMax & mask) !== subnetMax) {
    throw configError('IPv6SubnetMax', `IPv6SubnetMax is not on a SubnetLen boundary: ${formatIPv6(subnetMax)}`);
  }
  return Object.freeze({ network: Object.freeze({ ...network }), subnetLen, subnetMin, subnetMax });
}

/** flannel parseBackendType: absent Backend → udp; present without Type → "" (rejected later). */
function parseBackendType(backend: JsonValue | undefined): string {
  if (backend === undefined) return 'udp';
  if (backend === null) return '';
  if (!isJsonObject(backend)) {
    throw configError(
      'Backend',
      `error decoding Backend property of config: json: cannot unmarshal ${jsonTypeName(backend)} into Go value of type struct { Type string }`,
    );
  }
  const t = typed('', 'Backend.Type', 'Type', foldFields(backend, ['Type'] as const).Type, 'string');
  return ((t as string | undefined) ?? '').toLowerCase();
}

function parseBackend(type: string, raw: JsonValue | undefined): BackendConfig {
  const obj = isJsonObject(raw) ? raw : {};
  switch (type) {
    case 'udp': {
      const f = foldFields(obj, ['Port'] as const);
      const port = backendInt('udp', 'Port', f.Port) ?? UDP_DEFAULT_PORT;
      checkRange('Backend.Port', port, 1, 65535);
      return { type: 'udp', port };
    }
    case 'vxlan': {
      const f = foldFields(obj, ['VNI', 'Port', 'GBP', 'Learning', 'DirectRouting', 'MTU'] as const);
      const vni = backendInt('vxlan', 'VNI', f.VNI) ?? VXLAN_DEFAULT_VNI;
      const port = backendInt('vxlan', 'Port', f.Port) ?? 0;
      const mtu = backendInt('vxlan', 'MTU', f.MTU) ?? 0;
      checkRange('Backend.VNI', vni, 0, kMaxVni);
      checkRange('Backend.Port', port, 0, 65535);
      if (mtu !== 0) checkRange('Backend.MTU', mtu, 68 + 50, 65535);
      return {
        type: 'vxlan',
        vni,
        port,
        effectivePort: port === 0 ? VXLAN_KERNEL_DEFAULT_PORT : port,
        mtu,
        gbp: backendBool('GBP', f.GBP),
        learning: backendBool('Learning', f.Learning),
        directRouting: backendBool('DirectRouting', f.DirectRouting),
      };
    }
    case 'host-gw':
      return { type: 'host-gw' };
    default:
      if (kFlannelOnlyBackends.includes(type)) {
        throw configError(
          'Backend.Type',
          `backend type "${type}" is a flannel backend that weft does not implement (weft supports udp, vxlan, host-gw)`,
        );
      }
      throw configError('Backend.Type', `unknown backend type: ${type}`);
  }
}

function backendInt(backend: 'udp' | 'vxlan', field: string, value: JsonValue | undefined): number | undefined {
  const r = goField('', field, value, 'int');
  if (!r.ok) {
    const what = backend === 'udp' ? 'UDP' : 'VXLAN';
    throw configError(`Backend.${field}`, `error decoding ${what} backend config: ${r.message}`);
  }
  return r.value as number | undefined;
}

function backendBool(field: string, value: JsonValue | undefined): boolean {
  const r = goField('', field, value, 'bool');
  if (!r.ok) throw configError(`Backend.${field}`, `error decoding VXLAN backend config: ${r.message}`);
  return (r.value as boolean | undefined) ?? false;
}

function checkRange(option: string, value: number, min: number, max: number): void {
  if (value < min || value > max) {
    throw configError(option, `${option} must be between ${min} and ${max}, got ${describe(value)}`);
  }
}

/** The UDP port a backend listens and sends on (undefined for host-gw). */
export function backendPort(backend: BackendConfig): number | undefined {
  if (backend.type === 'udp') return backend.port;
  if (backend.type === 'vxlan') return backend.effectivePort;
  return undefined;
}
