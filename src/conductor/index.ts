/**
 * The Conductor: runs Melodies (workflows of bus calls) through the DAG Tracker, with a pluggable
 * decision policy (built in, or the Python Conductor over the bus); `builtin:conductor`.
 */
export { conductorComponent, type ConductorMethods } from './component.js';
export { ConductorSettingsSchema, type ConductorSettings } from './settings/index.js';
export { Conductor, type ConductorStatus } from './conductor.js';
export type { Chambering, MelodyResult, StepResult } from './result.js';
export { ExpressionError, parseExpression, resolveValue } from './expressions.js';
export { bindInputs, checkMelody, MelodyError, MelodySchema, readMelody, type Melody, type MelodyProblem, type MelodyStep } from './melody.js';
export { builtinPolicy, remotePolicy, type Decision, type DecisionPolicy, type Question } from './policy.js';
