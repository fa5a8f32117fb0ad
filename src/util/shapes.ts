/**
 * Hidden-class anchors: one instance of each class on the kernel's boot and stop paths, kept for
 * the life of the process.
 *
 * Why: V8 gives a class's instances their layout (hidden class, "map") through transitions that a
 * full GC drops once no instance of the class is left, and with the layout goes every function
 * optimized for it ("marking dependent code ... for deoptimization, reason: weak objects" under
 * `node --trace-deopt-verbose`). A kernel boots, stops and is dropped, so after the next full GC
 * the following boot ran unoptimized until the JIT caught up again: measured with a GC between
 * boots (as `npm run bench` does), 1,000-component boots and stops took 1.6-2x longer.
 *
 * A specimen keeps its class's layout only if it is the layout real instances get: make it with
 * the real constructor and values of the same kind (a fractional number where real instances hold
 * fractions, since V8 stores whole numbers and fractions differently). A specimen that drifts
 * costs nothing but its few bytes: it just stops helping.
 */
const specimens: object[] = [];

/** Keeps the given instances alive, so their classes' layouts outlive the instances in use. */
export function anchorShapes(...instances: object[]): void {
  specimens.push(...instances);
}
