// The node agent's public surface: what `svcnet up`, `svcnet agent`, `svcnet
// exec`, `svcnet down` and the API server's pods/log use.
export { startNodeAgent, readHostFacts, type NodeAgent, type NodeAgentOptions } from './agent.js';
export { getContainerLogs, registerLogSource, type ContainerLogOptions, type LogSource, type LogPod, type LogContainerState } from './logs.js';
export {
  createTopology, destroyTopology, planTopology, DEFAULT_CLUSTER_CIDR, DEFAULT_LAN_CIDR, DEFAULT_NODE_CIDR_MASK_SIZE,
  type NodeTopology, type Topology, type TopologyOptions,
} from './topology.js';
export { IpNetns, FakeNetns, type Netns, type NetOp, type ExecOptions, type ExecResult } from './netns.js';
export { clientNetnsName, lanNetnsName, nodeNetnsName, podNetnsName, hostVethName } from './names.js';
export { NodeError, isNodeError, nodeErrorCodes, type NodeErrorCode } from './errors.js';
export { runInSandbox, sandboxUnsupported, SANDBOX_ENV, type SandboxRun } from './sandbox.js';
export type { BackoffConfig } from './podworker.js';
