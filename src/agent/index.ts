// The agent: weft's control plane composed (store → lease → backend → host).
export { Agent, type AgentPhase, type AgentStatus } from './agent';
export { type AgentLogger, type AgentOptions, type ResolvedAgentOptions, silentLogger } from './agent-options';
export { type ExternalInterface, selectInterface } from './interface-select';
export { type NodeState, defaultStateFile, readNodeState } from './node-state';
export { prometheusText } from './metrics';
