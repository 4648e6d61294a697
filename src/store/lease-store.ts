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

import type { Cidr } from '../net/cidr';
import type { LeaseAttrs } from './lease-json';

export interface StoredLease {
  readonly subnet: Cidr;
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
  | { readonly type: 'put'; readonly subnet: Cidr; readonly lease: StoredLease; readonly revision: number }
  | { readonly type: 'delete'; readonly subnet: Cidr; readonly revision: number }
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
  /** Creates the lease only if no key exists for the subnet; true when this call created it. */
  acquireIfAbsent(subnet: Cidr, attrs: LeaseAttrs, ttlSec: number | null): Promise<boolean>;
  /** Creates or overwrites (renewal); the TTL restarts, or is removed when ttlSec is null. */
  put(subnet: Cidr, attrs: LeaseAttrs, ttlSec: number | null): Promise<void>;
  /** Removes the lease; no error when it is already gone. */
  delete(subnet: Cidr): Promise<void>;
  /** The network config JSON text, or undefined when none is stored. */
  getConfig(): Promise<string | undefined>;
  putConfig(text: string): Promise<void>;
  /**
   * Only for stores that assign this node's subnet themselves (Kubernetes:
   * the node's spec.podCIDR): the subnet to hold, checked against `network`.
   * The lease manager then takes it instead of choosing one, and holds it
   * without TTL (there is nothing to renew).
   */
  assignedSubnet?(network: Cidr): Promise<Cidr>;
  /** Calls onEvent for every change after `afterRevision` (see the contract above). */
  watch(afterRevision: number, onEvent: (event: StoreEvent) => void, opts?: WatchOptions): StoreWatch;
  close(): Promise<void>;
}

/** The store-facing name of a subnet, used as a map key by stores and watchers. */
export function subnetId(subnet: Cidr): string {
  return `${subnet.ip}/${subnet.prefixLen}`;
}
