// Data planes, traffic and kernel VXLAN peers in namespaces: see src/lab.
export * from '../../src/lab/overlay';
