/**
 * The bus methods the Conductor calls, each typed from its one declaration: the Pit's (PitMethods,
 * inferred from the tables its services serve) and the Orchestra's (OrchestraMethods, which its
 * handlers are checked against). `request` is the one place a reply gets its type: no reply is cast.
 */
import type { BusApi, RequestOptions } from '../bus/index.js';
import type { OrchestraMethods } from '../orchestra/index.js';
import type { PitMethods } from '../pit/index.js';

export type ConductorCalls = PitMethods & OrchestraMethods;
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
