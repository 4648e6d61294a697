// IPv6 CIDR prefixes: parse, format, contain. The IPv4 twin is cidr.ts.

import { formatIPv6, kIPv6Bits, kIPv6Max, parseIPv6 } from './ip6';

export interface Cidr6 {
  /** Network address, host bits cleared. */
  readonly ip: bigint;
  readonly prefixLen: number;
}

export function mask6Of(prefixLen: number): bigint {
  return (kIPv6Max << (kIPv6Bits - BigInt(prefixLen))) & kIPv6Max;
}

/**
 * Parses `addr/len`. With `strict`, host bits must be zero (a lease subnet);
 * otherwise they are masked off, as Go's net.ParseCIDR does.
 */
export function parseCidr6(text: string, opts: { strict?: boolean } = {}): Cidr6 | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const ip = parseIPv6(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  if (ip === undefined || !/^\d{1,3}$/.test(lenText)) return undefined;
  const prefixLen = Number(lenText);
  if (prefixLen > 128) return undefined;
  const masked = ip & mask6Of(prefixLen);
  if (opts.strict && masked !== ip) return undefined;
  return { ip: masked, prefixLen };
}

export function formatCidr6(cidr: Cidr6): string {
  return `${formatIPv6(cidr.ip)}/${cidr.prefixLen}`;
}

export function cidr6ContainsIp(cidr: Cidr6, ip: bigint): boolean {
  return (ip & mask6Of(cidr.prefixLen)) === cidr.ip;
}

/** True when `inner` lies wholly inside `outer`. */
export function cidr6Contains(outer: Cidr6, inner: Cidr6): boolean {
  return inner.prefixLen >= outer.prefixLen && cidr6ContainsIp(outer, inner.ip);
}

export function cidr6Overlaps(a: Cidr6, b: Cidr6): boolean {
  return cidr6Contains(a, b) || cidr6Contains(b, a);
}

/** Number of addresses in the prefix, as a bigint (a /0 has 2^128). */
export function cidr6Size(cidr: Cidr6): bigint {
  return 1n << (kIPv6Bits - BigInt(cidr.prefixLen));
}
