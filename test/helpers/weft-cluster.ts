// N `weft run` nodes on one underlay switch: see src/lab/cluster.ts.
export * from '../../src/lab/cluster';
