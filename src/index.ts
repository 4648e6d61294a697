// weft's public API: the data plane, its table, errors, and (for embedders)
// the control-plane pieces.

export { DataPlane } from './dataplane/dataplane';
export type { DataPlaneOptions, DataPlaneBackend } from './dataplane/options';
export type { TableEntry } from './dataplane/table';
export { LeaseTable } from './dataplane/table';
export { readTable, type DataPlaneStats } from './dataplane/stats';
export { WeftError, ErrorCode, type ErrorCodeValue } from './errors';
