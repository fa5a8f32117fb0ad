/**
 * The Orchestra Kit: extension discovery, manifests, semver resolution, the two execution models
 * (in-process, isolated under Node's permission model), capabilities, activation, supervision and
 * hot reload; `builtin:orchestra`.
 */
export { defineExtension, type ExtensionContext, type ExtensionModule } from './api.js';
export { orchestraComponent, preparedOrchestra } from './component.js';
export { discover, resolveExtensions, type Discovery, type Resolution } from './discover.js';
export { ExtensionRuntime, extensionComponent, rightsOf, type ExtensionState } from './extension.js';
export { isolatedCommand, networkIsolationAvailable, permissionFlag, residentBytes } from './isolation.js';
export { readManifest, type Activation, type ExtensionManifest, type ExtensionProblem } from './manifest.js';
export { Orchestra, symphonyVersion, type ExtensionProvider, type ExtensionStatus, type OrchestraMethods } from './orchestra.js';
export { GrantSchema, OrchestraSettingsSchema, type Grant, type OrchestraSettings } from './settings/index.js';
export { canonicalJson, grantFor, grantYaml, manifestPin, patternCovers, patternsOverlap, RESERVED_NAMESPACES, reservedNamespace, reviewGrant, type GrantReview } from './grants.js';
export { planExtensions, type ExtensionPlan } from './plan.js';
