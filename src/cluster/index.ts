/**
 * The cluster: kernels on several machines joined through NATS into one system. Each is a node
 * (`cluster: { node, servers }`); a method or topic served on one node is reachable from all, with
 * the bus's semantics (docs/cluster.md). Built on the bus's face; the NATS client is loaded only by
 * the component's start.
 */
export { clusterComponent, type ClusterComponentConfig } from './component.js';
export { ClusterNode, type ClusterPs, type NodeInfo } from './node.js';
export { DuplicateNodeError } from './members.js';
export { parseServerUrl, readSecret, resolveSettings, NODE_NAME, PREFIX, type ClusterSettings, type ResolvedSettings } from './settings.js';
