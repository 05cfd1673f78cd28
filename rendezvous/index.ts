/** Library entry of the rendezvous, for embedders and tests. */
export { createRendezvous, type Rendezvous, type RendezvousOptions } from './server.js';
export { AccountStore, defaultDataDir, type Account, type AccountSummary } from './accounts.js';
export { createLogger, silentLogger, type Logger, type LogLevel } from './log.js';
export type { RelayLimits, RelayStats } from './relay.js';
