// `weft/dataplane`: the data plane alone (DataPlane, its table, stats,
// errors), for embedders that bring their own control plane. It loads the
// addon and nothing of the stores: no etcd3, no gRPC, no SQLite.

export { DataPlane } from './dataplane';
export type { DataPlaneOptions, DataPlaneBackend } from './options';
export type { TableEntry } from './table';
export { LeaseTable } from './table';
export { readTable, type DataPlaneStats } from './stats';
export { WeftError, ErrorCode, type ErrorCodeValue } from '../errors';
