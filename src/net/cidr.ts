// IPv4 CIDR prefixes: parse, format, contain.

import { formatIPv4, parseIPv4 } from './ip';

export interface Cidr {
  /** Network address (host order), host bits cleared. */
  readonly ip: number;
  readonly prefixLen: number;
}

export function maskOf(prefixLen: number): number {
  return prefixLen === 0 ? 0 : (0xffffffff << (32 - prefixLen)) >>> 0;
}

/**
 * Parses `a.b.c.d/len`. With `strict`, host bits must be zero (what a lease
 * subnet must look like); otherwise they are masked off, as Go's
 * net.ParseCIDR does for flannel's Network.
 */
export function parseCidr(text: string, opts: { strict?: boolean } = {}): Cidr | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const ip = parseIPv4(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  if (ip === undefined || !/^\d{1,2}$/.test(lenText)) return undefined;
  const prefixLen = Number(lenText);
  if (prefixLen > 32) return undefined;
  const masked = (ip & maskOf(prefixLen)) >>> 0;
  if (opts.strict && masked !== ip) return undefined;
  return { ip: masked, prefixLen };
}

export function formatCidr(cidr: Cidr): string {
  return `${formatIPv4(cidr.ip)}/${cidr.prefixLen}`;
}

export function cidrContainsIp(cidr: Cidr, ip: number): boolean {
  return (ip & maskOf(cidr.prefixLen)) >>> 0 === cidr.ip;
}

/** True when `inner` lies wholly inside `outer`. */
export function cidrContains(outer: Cidr, inner: Cidr): boolean {
  return inner.prefixLen >= outer.prefixLen && cidrContainsIp(outer, inner.ip);
}

export function cidrOverlaps(a: Cidr, b: Cidr): boolean {
  return cidrContains(a, b) || cidrContains(b, a);
}

export function cidrSize(cidr: Cidr): number {
  return 2 ** (32 - cidr.prefixLen);
}
