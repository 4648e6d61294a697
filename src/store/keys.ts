// The store's key layout, flannel's exactly (flannel-facts §2). This file is
// the one place that knows it.
//
//   <prefix>/config                  network config JSON
//   <prefix>/subnets/<a.b.c.d>-<len> one lease; dual stack appends &<ipv6>-<len6>
//
// The default prefix is flannel's `/coreos.com/network`.

import { type Cidr, maskOf } from '../net/cidr';
import { formatIPv4, parseIPv4 } from '../net/ip';

export const DEFAULT_PREFIX = '/coreos.com/network';

/** flannel's ParseSubnetKey regex, anchored only at the end (its dots are unescaped, as in flannel). */
const kSubnetKey = /(\d+\.\d+.\d+.\d+)-(\d+)(?:&([a-f\d:]+)-(\d+))?$/;

/** A prefix without trailing slashes (`/coreos.com/network/` → `/coreos.com/network`). */
export function normalizePrefix(prefix: string): string {
  const p = prefix.replace(/\/+$/, '');
  return p;
}

export function configKey(prefix: string): string {
  return `${normalizePrefix(prefix)}/config`;
}

/** The key prefix every lease key starts with, trailing slash included. */
export function subnetsPrefix(prefix: string): string {
  return `${normalizePrefix(prefix)}/subnets/`;
}

/** flannel MakeSubnetKey (IPv4 only): `10.244.3.0-24`. */
export function makeSubnetKey(subnet: Cidr): string {
  return `${formatIPv4(subnet.ip)}-${subnet.prefixLen}`;
}

export function subnetKeyPath(prefix: string, subnet: Cidr): string {
  return subnetsPrefix(prefix) + makeSubnetKey(subnet);
}

export interface ParsedSubnetKey {
  readonly subnet: Cidr;
  /** The IPv6 part of a dual-stack key, as written (`fc00:0:0:3400::-64`), if any. */
  readonly ipv6?: string;
}

/**
 * flannel ParseSubnetKey. Accepts a bare key or a full path (the regex is
 * anchored at the end only). The prefix length must fit 5 bits (0..31), as
 * flannel's ParseUint(…, 5) demands. Unlike flannel, a subnet with host bits
 * set is refused (undefined): no lease flannel writes has one.
 */
export function parseSubnetKey(key: string): ParsedSubnetKey | undefined {
  const m = kSubnetKey.exec(key);
  if (!m) return undefined;
  const ip = parseIPv4(m[1]!);
  const len = Number(m[2]);
  if (ip === undefined || !/^\d{1,2}$/.test(m[2]!) || len > 31) return undefined;
  if ((ip & maskOf(len)) >>> 0 !== ip) return undefined;
  const subnet: Cidr = { ip, prefixLen: len };
  return m[3] !== undefined ? { subnet, ipv6: `${m[3]}-${m[4]}` } : { subnet };
}

/** The key part after `<prefix>/subnets/`, or undefined for keys outside it. */
export function subnetKeyOfPath(prefix: string, path: string): string | undefined {
  const p = subnetsPrefix(prefix);
  return path.startsWith(p) ? path.slice(p.length) : undefined;
}
