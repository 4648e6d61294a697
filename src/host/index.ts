// Host programming in the current network namespace: subnet.env, iptables rules, host-gw routes.
export * from './exec';
export * from './subnet-env';
export * from './iptables';
export * from './routes';
export * from './file-trust';
export * from './kernel-links';
