/**
 * The bus methods the Conductor calls, each typed from its one declaration: the Pit's (PitMethods,
 * inferred from the tables its services serve) and the Orchestra's (OrchestraMethods, which its
 * handlers are checked against). `request` is the one place a reply gets its type: no reply is cast.
 */
import type { BusApi, RequestOptions } from '../bus/index.js';
import type { OrchestraMethods } from '../orchestra/index.js';
import type { ArtifactStore, PitMethods } from '../pit/index.js';

type ArtifactHandlers = ArtifactStore['methods'];

/**
 * MERGE: the two Artifact Store methods the Conductor calls. Their results are the store's own
 * (inferred from its handlers); their params are written here only until the Pit's face exports
 * the store's methods in PitMethods, as it does the DAG Tracker's and the Stale Manager's. Then
 * this type goes and `ConductorCalls` is `PitMethods & OrchestraMethods`.
 */
interface ArtifactMethods {
  'artifacts.put': {
    params: { name: string; data: string; metadata?: Record<string, unknown>; tags?: string[] };
    result: Awaited<ReturnType<ArtifactHandlers['artifacts.put']>>;
  };
  'artifacts.read': {
    params: { name: string; version?: number; offset?: number; length?: number };
    result: Awaited<ReturnType<ArtifactHandlers['artifacts.read']>>;
  };
}

export type ConductorCalls = PitMethods & OrchestraMethods & ArtifactMethods;
export type ConductorCall = keyof ConductorCalls & string;

/** A request to one of the parts' declared methods: params and reply typed by its declaration. */
export function request<M extends ConductorCall>(
  bus: Pick<BusApi, 'request'>,
  method: M,
  params: ConductorCalls[M]['params'],
  options?: RequestOptions,
): Promise<ConductorCalls[M]['result']> {
  return bus.request<ConductorCalls[M]['result']>(method, params, options);
}
