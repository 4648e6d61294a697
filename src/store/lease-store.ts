// The one interface every lease store implements (embedded SQLite, etcd v3,
// or an embedder's own). It holds only what every store can do; acquisition
// order, renewal and peer tracking live in src/lease/ on top of it.
//
// Contracts every implementation keeps:
// - Revisions are integers that only grow. list() returns the revision its
//   snapshot reflects; watch(rev) delivers every change with a revision
//   greater than rev, in order, each exactly once.
// - A lease put with ttlSec === null has no TTL (a reservation) and never
//   expires; one put with a TTL disappears after it, producing a delete event.
// - acquireIfAbsent() is atomic: of several callers racing for one key across
//   processes, at most one gets true.
// - When a store cannot replay history from rev (compacted), the watch emits
//   one 'resync' event with a fresh snapshot and continues after it.
// - Failures are WeftError(STORE); `recoverable` is true for outages worth
//   retrying (unreachable server, busy database).

import type { NetworkConfig } from '../config/network-config';
import type { Cidr } from '../net/cidr';
import type { Cidr6 } from '../net/cidr6';
import { makeSubnetKey } from './keys';
import type { LeaseAttrs } from './lease-json';

/**
 * A lease's subnets, which together name its key: the IPv4 subnet (0.0.0.0/0,
 * NO_IPV4_SUBNET, for an IPv6-only lease) and, in dual stack or IPv6-only,
 * the IPv6 one — flannel's Lease{Subnet, IPv6Subnet}.
 */
export interface LeaseSubnets {
  readonly subnet: Cidr;
  readonly ipv6Subnet?: Cidr6 | undefined;
}

/** Store methods take a bare IPv4 subnet (an IPv4-only lease) or both subnets. */
export type LeaseRef = Cidr | LeaseSubnets;

export function leaseSubnets(ref: LeaseRef): LeaseSubnets {
  return 'subnet' in ref ? ref : { subnet: ref };
}

/** A lease's identity (its key, `10.244.3.0-24&fd00:10:244:3::-64`), for maps and comparisons. */
export function leaseId(ref: LeaseRef): string {
  const s = leaseSubnets(ref);
  return makeSubnetKey(s.subnet, s.ipv6Subnet);
}

export interface StoredLease {
  /** NO_IPV4_SUBNET (0.0.0.0/0) when the lease has no IPv4 subnet. */
  readonly subnet: Cidr;
  /** Present in a dual-stack or IPv6-only lease. */
  readonly ipv6Subnet?: Cidr6;
  readonly attrs: LeaseAttrs;
  /** True for a key without TTL (flannel "reservation"). */
  readonly reservation: boolean;
  /** When the TTL runs out (ms since the epoch), if the store knows; absent for reservations. */
  readonly expiresAt?: number;
}

export interface LeaseSnapshot {
  readonly leases: readonly StoredLease[];
  readonly revision: number;
}

export type StoreEvent =
  | { readonly type: 'put'; readonly subnet: Cidr; readonly ipv6Subnet?: Cidr6; readonly lease: StoredLease; readonly revision: number }
  | { readonly type: 'delete'; readonly subnet: Cidr; readonly ipv6Subnet?: Cidr6; readonly revision: number }
  | { readonly type: 'resync'; readonly leases: readonly StoredLease[]; readonly revision: number };

export interface WatchOptions {
  /** Transient watch failures (the store retries on its own); for logs and readiness. */
  onError?: (err: Error) => void;
  /** The watch stream is (re)established with the server; for logs. */
  onOpen?: () => void;
}

export interface StoreWatch {
  /** Stops delivering events; resolves once no more will arrive. */
  close(): Promise<void>;
}

export interface LeaseStore {
  /** Every live lease and the revision of that snapshot. Expired leases are never returned. */
  list(): Promise<LeaseSnapshot>;
  /** Creates the lease only if no key exists for its subnets; true when this call created it. */
  acquireIfAbsent(subnet: LeaseRef, attrs: LeaseAttrs, ttlSec: number | null): Promise<boolean>;
  /** Creates or overwrites (renewal); the TTL restarts, or is removed when ttlSec is null. */
  put(subnet: LeaseRef, attrs: LeaseAttrs, ttlSec: number | null): Promise<void>;
  /** Removes the lease; no error when it is already gone. */
  delete(subnet: LeaseRef): Promise<void>;
  /** The network config JSON text, or undefined when none is stored. */
  getConfig(): Promise<string | undefined>;
  putConfig(text: string): Promise<void>;
  /**
   * Only for stores that assign this node's subnet themselves (Kubernetes:
   * the node's spec.podCIDR(s)): the subnets to hold, checked against the
   * config's networks. The lease manager then takes them instead of choosing,
   * and holds them without TTL (there is nothing to renew).
   */
  assignedSubnet?(config: NetworkConfig): Promise<LeaseSubnets>;
  /** Calls onEvent for every change after `afterRevision` (see the contract above). */
  watch(afterRevision: number, onEvent: (event: StoreEvent) => void, opts?: WatchOptions): StoreWatch;
  close(): Promise<void>;
}

/** The store-facing name of an IPv4 subnet (IPv4-only leases); leaseId names any lease. */
export function subnetId(subnet: Cidr): string {
  return `${subnet.ip}/${subnet.prefixLen}`;
}
