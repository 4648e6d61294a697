// Subnet choice, as flannel's LocalManager does it (flannel-facts §2,
// "Acquisition algorithm"): pure functions over the config and the leases
// currently in the store.

import type { NetworkConfig } from '../config/network-config';
import { type Cidr, cidrContains, cidrOverlaps } from '../net/cidr';

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
