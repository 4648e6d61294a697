// weft's public API: the data plane, its table, errors, and (for embedders)
// the control-plane pieces.

export { DataPlane } from './dataplane/dataplane';
export type { DataPlaneOptions, DataPlaneBackend } from './dataplane/options';
export type { TableEntry } from './dataplane/table';
export { LeaseTable } from './dataplane/table';
export { readTable, type DataPlaneStats } from './dataplane/stats';
export { WeftError, ErrorCode, type ErrorCodeValue } from './errors';

// The control plane, for embedders: the agent, and what it takes to bring your own lease store.
export { Agent, type AgentOptions, type AgentStatus, type AgentPhase, type AgentLogger, prometheusText } from './agent/index';
export type { LeaseStore, StoredLease, LeaseSnapshot, StoreEvent, StoreWatch, WatchOptions } from './store/lease-store';
export { type LeaseAttrs, encodeLeaseAttrs, decodeLeaseAttrs, leaseAttrsFor } from './store/lease-json';
export { EmbeddedStore, EtcdStore, type EmbeddedStoreOptions, type EtcdStoreOptions } from './store/index';
export { parseNetworkConfig, type NetworkConfig } from './config/network-config';
export type { Cidr } from './net/cidr';
export type { PeerEvent } from './lease/lease-watcher';
