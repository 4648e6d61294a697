// The store's key layout, flannel's exactly (flannel-facts §2). This file is
// the one place that knows it.
//
//   <prefix>/config                  network config JSON
//   <prefix>/subnets/<a.b.c.d>-<len> one lease; dual stack appends &<ipv6>-<len6>
//
// IPv6-only leases (EnableIPv4 false) are keyed as flannel's MakeSubnetKey
// keys them, with its empty IPv4 subnet in front: `0.0.0.0-0&fd00:10:244:2::-64`
// (flannel's own key regex parses that form). The IPv6 part is printed as Go
// prints it (RFC 5952, net/ip6.ts).
//
// The default prefix is flannel's `/coreos.com/network`.

import { type Cidr, maskOf } from '../net/cidr';
import { type Cidr6, mask6Of } from '../net/cidr6';
import { formatIPv4, parseIPv4 } from '../net/ip';
import { formatIPv6, parseIPv6 } from '../net/ip6';

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

/** The IPv4 subnet of a lease without one (IPv6-only): flannel's empty IP4Net, 0.0.0.0/0. */
export const NO_IPV4_SUBNET: Cidr = Object.freeze({ ip: 0, prefixLen: 0 });

/** True for a real IPv4 lease subnet (not the IPv6-only placeholder 0.0.0.0/0). */
export function hasIpv4Subnet(subnet: Cidr): boolean {
  return subnet.prefixLen !== 0;
}

/** flannel MakeSubnetKey: `10.244.3.0-24`, dual stack `10.244.3.0-24&fd00:10:244:3::-64`. */
export function makeSubnetKey(subnet: Cidr, ipv6Subnet?: Cidr6): string {
  const v4 = `${formatIPv4(subnet.ip)}-${subnet.prefixLen}`;
  return ipv6Subnet === undefined ? v4 : `${v4}&${formatIPv6(ipv6Subnet.ip)}-${ipv6Subnet.prefixLen}`;
}

export function subnetKeyPath(prefix: string, subnet: Cidr, ipv6Subnet?: Cidr6): string {
  return subnetsPrefix(prefix) + makeSubnetKey(subnet, ipv6Subnet);
}

export interface ParsedSubnetKey {
  /** `0.0.0.0/0` (NO_IPV4_SUBNET) in an IPv6-only key. */
  readonly subnet: Cidr;
  /** The IPv6 part of a dual-stack or IPv6-only key, if any. */
  readonly ipv6Subnet?: Cidr6;
}

/**
 * flannel ParseSubnetKey. Accepts a bare key or a full path (the regex is
 * anchored at the end only). The prefix length must fit 5 bits (0..31), as
 * flannel's ParseUint(…, 5) demands, the IPv6 one 7 bits (0..127). Unlike
 * flannel, a subnet with host bits set is refused (undefined): no lease
 * flannel writes has one; so is `0.0.0.0-0` without an IPv6 part (a lease of
 * nothing).
 */
export function parseSubnetKey(key: string): ParsedSubnetKey | undefined {
  const m = kSubnetKey.exec(key);
  if (!m) return undefined;
  const ip = parseIPv4(m[1]!);
  const len = Number(m[2]);
  if (ip === undefined || !/^\d{1,2}$/.test(m[2]!) || len > 31) return undefined;
  if ((ip & maskOf(len)) >>> 0 !== ip) return undefined;
  const subnet: Cidr = len === 0 ? NO_IPV4_SUBNET : { ip, prefixLen: len };
  if (m[3] === undefined) return len === 0 ? undefined : { subnet };
  const ip6 = parseIPv6(m[3]);
  const len6 = Number(m[4]);
  if (ip6 === undefined || !/^\d{1,3}$/.test(m[4]!) || len6 > 127) return undefined;
  if ((ip6 & mask6Of(len6)) !== ip6) return undefined;
  return { subnet, ipv6Subnet: { ip: ip6, prefixLen: len6 } };
}

/** The key part after `<prefix>/subnets/`, or undefined for keys outside it. */
export function subnetKeyOfPath(prefix: string, path: string): string | undefined {
  const p = subnetsPrefix(prefix);
  return path.startsWith(p) ? path.slice(p.length) : undefined;
}
