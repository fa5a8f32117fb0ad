import type { ComponentOptions } from '../bootstrap/index.js';
import type { LoadedSystem } from '../config/index.js';
import { parseDuration } from '../util/duration.js';

/** The `use:` of the component a `cluster:` table adds (the system's loader knows it; a config cannot name it). */
export const CLUSTER_USE = 'builtin:cluster';

/** The `cluster:` table of a loaded system (checked with the rest of the file), if it has one. */
function clusterOf(system: LoadedSystem): Record<string, unknown> | undefined {
  const value = system.source?.value as { cluster?: unknown } | null | undefined;
  const cluster = value && typeof value === 'object' ? value.cluster : undefined;
  return cluster && typeof cluster === 'object' ? (cluster as Record<string, unknown>) : undefined;
}

/**
 * With `cluster:`, the components plus `cluster`: it needs the bus and comes after every other
 * part (so what they serve is served before other nodes can call it, and it leaves first at a
 * stop); `cluster.optional` is the component's optional. Without it, the components unchanged.
 */
export function withCluster(system: LoadedSystem): Record<string, ComponentOptions> {
  const cluster = clusterOf(system);
  if (!cluster) return system.components;
  const where = system.file;
  if (!system.busName) throw new TypeError(`${where}: cluster needs the bus: add a component with use: builtin:bus`);
  if (Object.hasOwn(system.components, 'cluster')) throw new TypeError(`${where}: a component is named 'cluster', the name the cluster: table's node takes: rename the component`);
  const connectMs = parseDuration(cluster.connectTimeout ?? '5s') ?? 5000;
  const { optional, ...settings } = cluster;
  const others = Object.keys(system.components).filter((n) => n !== system.busName);
  return {
    ...system.components,
    cluster: {
      use: CLUSTER_USE,
      needs: [system.busName],
      wants: others,
      ...(optional === true ? { optional: true } : {}),
      timeout: connectMs + 5000,
      with: { ...settings, bus: system.busName },
    },
  };
}
