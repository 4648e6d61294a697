// Subnet choice, as flannel's LocalManager does it (flannel-facts §2,
// "Acquisition algorithm"): pure functions over the config and the leases
// currently in the store.

import type { NetworkConfig } from '../config/network-config';
import { type Cidr, cidrContains, cidrOverlaps } from '../net/cidr';
import { type Cidr6, cidr6Overlaps } from '../net/cidr6';

/** flannel keeps at most this many free candidates and picks one at random. */
export const MAX_CANDIDATES = 100;

/** flannel's isSubnetConfigCompat: the network's SubnetLen and within SubnetMin..SubnetMax. */
export function isCompatibleSubnet(config: NetworkConfig, subnet: Cidr): boolean {
  return subnet.prefixLen === config.subnetLen && subnet.ip >= config.subnetMin && subnet.ip <= config.subnetMax;
}

/**
 * Looser rule for reservations (keys without TTL): an operator's reservation
 * is honoured anywhere inside Network with the right length. flannel would
 * delete one outside SubnetMin..SubnetMax; weft never deletes a reservation.
 */
export function isUsableReservation(config: NetworkConfig, subnet: Cidr): boolean {
  return subnet.prefixLen === config.subnetLen && cidrContains(config.network, subnet);
}

/** An index of taken subnets that answers "is this candidate free?" in O(1) for same-length leases. */
export class TakenSet {
  readonly #sameLen = new Set<number>();
  readonly #other: Cidr[] = [];
  readonly #len: number;

  constructor(subnetLen: number, taken: Iterable<Cidr>) {
    this.#len = subnetLen;
    for (const t of taken) this.add(t);
  }

  add(subnet: Cidr): void {
    if (subnet.prefixLen === this.#len) this.#sameLen.add(subnet.ip);
    else this.#other.push(subnet);
  }

  overlaps(candidate: Cidr): boolean {
    if (candidate.prefixLen === this.#len && this.#sameLen.has(candidate.ip)) return true;
    return this.#other.some((o) => cidrOverlaps(o, candidate));
  }
}

/** The first `limit` free subnets walking up from SubnetMin to SubnetMax in SubnetLen steps. */
export function freeSubnets(config: NetworkConfig, taken: Iterable<Cidr> | TakenSet, limit = MAX_CANDIDATES): Cidr[] {
  const index = taken instanceof TakenSet ? taken : new TakenSet(config.subnetLen, taken);
  const step = 2 ** (32 - config.subnetLen);
  const out: Cidr[] = [];
  for (let ip = config.subnetMin; ip <= config.subnetMax && out.length < limit; ip += step) {
    const candidate = { ip, prefixLen: config.subnetLen };
    if (!index.overlaps(candidate)) out.push(candidate);
  }
  return out;
}

/** One free subnet chosen uniformly among the first 100, or undefined when none is left. */
export function pickFreeSubnet(
  config: NetworkConfig,
  taken: Iterable<Cidr> | TakenSet,
  random: () => number = Math.random,
): Cidr | undefined {
  const candidates = freeSubnets(config, taken);
  if (candidates.length === 0) return undefined;
  return candidates[Math.min(candidates.length - 1, Math.floor(random() * candidates.length))];
}

// IPv6: the same rules over the config's `ipv6` half (flannel-facts §2: "Same
// for IPv6 independently"), with bigint addresses.

/** flannel's isIPv6SubnetConfigCompat: without EnableIPv6 the lease must have no IPv6 subnet. */
export function isCompatibleSubnet6(config: NetworkConfig, subnet: Cidr6 | undefined): boolean {
  const v6 = config.ipv6;
  if (!v6) return subnet === undefined;
  return subnet !== undefined && subnet.prefixLen === v6.subnetLen && subnet.ip >= v6.subnetMin && subnet.ip <= v6.subnetMax;
}

/** The IPv4 half of flannel's compatibility check; an IPv6-only config wants the 0.0.0.0/0 placeholder. */
export function isCompatibleSubnet4(config: NetworkConfig, subnet: Cidr): boolean {
  return config.enableIPv4 ? isCompatibleSubnet(config, subnet) : subnet.prefixLen === 0;
}

/** The first `limit` free IPv6 subnets from IPv6SubnetMin to IPv6SubnetMax. */
export function freeSubnets6(config: NetworkConfig, taken: readonly Cidr6[], limit = MAX_CANDIDATES): Cidr6[] {
  const v6 = config.ipv6;
  if (!v6) return [];
  const sameLen = new Set(taken.filter((t) => t.prefixLen === v6.subnetLen).map((t) => t.ip));
  const other = taken.filter((t) => t.prefixLen !== v6.subnetLen);
  const step = 1n << BigInt(128 - v6.subnetLen);
  const out: Cidr6[] = [];
  // Bounded like flannel's walk: at most `limit` free ones, and the taken ones skipped on the way.
  for (let ip = v6.subnetMin, seen = 0; ip <= v6.subnetMax && out.length < limit && seen <= taken.length + limit; ip += step, seen++) {
    const candidate = { ip, prefixLen: v6.subnetLen };
    if (sameLen.has(ip) || other.some((o) => cidr6Overlaps(o, candidate))) continue;
    out.push(candidate);
  }
  return out;
}

/** One free IPv6 subnet chosen uniformly among the first 100, or undefined when none is left. */
export function pickFreeSubnet6(config: NetworkConfig, taken: readonly Cidr6[], random: () => number = Math.random): Cidr6 | undefined {
  const candidates = freeSubnets6(config, taken);
  if (candidates.length === 0) return undefined;
  return candidates[Math.min(candidates.length - 1, Math.floor(random() * candidates.length))];
}
