/** Types of drivers.mjs (the helpers are plain JS so that child processes run them without a loader). */
export interface Payload {
  n: number;
  text: string;
}
export type Call = (params: Payload) => PromiseLike<unknown>;
export function payload(i: number): Payload;
export function sequential(call: Call, n: number, lat: number[]): Promise<number>;
export function windowed(call: Call, n: number, window: number, lat: number[]): Promise<number>;
export function compact(lat: readonly number[]): number[];
