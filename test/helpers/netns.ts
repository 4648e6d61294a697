// Test hosts in network namespaces: the lab in src/lab is shared with `weft demo` and `weft bench`.
export * from '../../src/lab/netns';
