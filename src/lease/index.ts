// Store-agnostic lease handling: acquisition, renewal, peer tracking.
export * from './lease-manager';
export * from './lease-watcher';
export * from './subnet-allocator';
