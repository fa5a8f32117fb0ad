/**
 * The live dashboard of a running system: a page (boot waterfall, components and extensions,
 * bus traffic, melody runs, events) kept current over Server-Sent Events, and the operator's
 * actions behind the operator token. The CLI's HTTP listener serves it (docs/dashboard.md).
 */
export { Dashboard, DEFAULT_DASHBOARD_LIMITS, type DashboardLimits, type DashboardOptions, type DashboardStats } from './dashboard.js';
export type { BootView, BusSample, Inventory, InventoryRow, LogEntry, MelodyRun, PeerSample } from './views.js';
export { DEFAULT_STREAM_LIMITS, type StreamLimits } from './stream.js';
