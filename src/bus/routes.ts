/**
 * Where a method goes: exact routes in a map (one lookup on the fast path), pattern routes in a
 * subject index, the most specific pattern winning.
 */
import type { Handler } from './api.js';
import type { Endpoint, Route } from './endpoint.js';
import { InvalidParamsError } from './errors.js';
import { isPattern, SubjectIndex } from './subjects.js';

export class RouteTable {
  readonly #exact = new Map<string, Route>();
  readonly #patterns = new SubjectIndex<Route>();
  readonly #patternRoutes = new Map<string, Route>();

  get size(): number {
    return this.#exact.size + this.#patterns.size;
  }

  find(method: string): Route | undefined {
    const exact = this.#exact.get(method);
    if (exact !== undefined || this.#patterns.size === 0) return exact;
    const candidates = this.#patterns.match(method);
    let best: Route | undefined;
    for (const r of candidates) if (!best || r.weight > best.weight) best = r;
    return best;
  }

  /** `ep` serves `method` (a reservation when `lazy`): refused if another party serves it already. */
  add(ep: Endpoint, method: string, handler: Handler | undefined, lazy: boolean): Route {
    const existing = isPattern(method) ? this.#patternRoutes.get(method) : this.#exact.get(method);
    // Taking over a method is allowed from a reservation, or between two generations of one party.
    if (existing && existing.endpoint !== ep && !existing.lazy && !(existing.endpoint.superseded && existing.endpoint.name === ep.name)) {
      throw new InvalidParamsError(`'${method}' is already served by '${existing.endpoint.name}'`, { method, peer: existing.endpoint.name });
    }
    if (existing) this.remove(existing);
    // More literal segments win; between equals, `*` (exactly one segment) beats `>` (any number).
    const weight = method.split('.').filter((s) => s !== '*' && s !== '>').length * 2 + (method.endsWith('>') ? 0 : 1);
    const route: Route = { method, endpoint: ep, handler, weight, lazy };
    if (isPattern(method)) {
      this.#patterns.add(method, route);
      this.#patternRoutes.set(method, route);
    } else {
      this.#exact.set(method, route);
    }
    ep.routes.add(route);
    return route;
  }

  remove(route: Route): void {
    if (!route.endpoint.routes.delete(route)) return;
    if (isPattern(route.method)) {
      this.#patterns.delete(route.method, route);
      if (this.#patternRoutes.get(route.method) === route) this.#patternRoutes.delete(route.method);
    } else if (this.#exact.get(route.method) === route) this.#exact.delete(route.method);
  }
}
