export { FalconetServer } from './app.ts';
export { type ServerConfig, serverConfigSchema } from './config.ts';
export { AgentRepository } from './db/agents.ts';
export { type MetaDb, migrateMetaDb, openMetaDb } from './db/index.ts';
export { LiveHub, type LiveMessage } from './live/hub.ts';
export { AgentRegistry } from './registry.ts';
export { EmbeddedStore, type EmbeddedStoreOptions } from './store/embedded/engine.ts';
export { openStore, storeEngine } from './store/index.ts';
export type {
  AgentRecord,
  AggregateQuery,
  AggregateResult,
  SeriesQuery,
  SeriesResult,
  Store,
  StoreStats,
  TopKEntry,
  TopKQuery,
} from './store/types.ts';
