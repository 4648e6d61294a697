// The lease stores and their shared vocabulary (keys, lease JSON, interface).
export * from './lease-store';
export * from './keys';
export * from './lease-json';
export { EmbeddedStore, EMBEDDED_DB_FILE, type EmbeddedStoreOptions } from './embedded-store';
export { EtcdStore, type EtcdStoreOptions } from './etcd-store';
