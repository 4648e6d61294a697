// `weft run` as a real process in a namespace: see src/lab/agent-process.ts.
export * from '../../src/lab/agent-process';
