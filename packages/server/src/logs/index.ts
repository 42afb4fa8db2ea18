import { join } from 'node:path';
import { StartupError } from '@falconet/protocol/cli';
import type { ServerConfig } from '../config.ts';
import type { StoreLog } from '../store/types.ts';
import { EmbeddedLogStore } from './embedded.ts';
import type { LogStore } from './types.ts';

export type { LogStore } from './types.ts';

const PG_URL = /^postgres(ql)?:\/\//;

/** Opens the log store the configuration names: `auto` follows database.url, like the samples store. */
export async function openLogStore(config: ServerConfig, log?: StoreLog): Promise<LogStore> {
  const { engine, retention, max_bytes } = config.logs;
  if (engine === 'postgres' || (engine === 'auto' && PG_URL.test(config.database.url))) {
    if (!PG_URL.test(config.database.url)) {
      throw new StartupError(
        'logs.engine is postgres but database.url is not a postgres:// URL; set database.url or logs.engine: embedded',
      );
    }
    const { PostgresLogStore } = await import('./postgres.ts');
    try {
      return await PostgresLogStore.open({ url: config.database.url, retentionMs: retention, maxBytes: max_bytes, log });
    } catch (err) {
      throw new StartupError(`log store on PostgreSQL: ${(err as Error).message}`);
    }
  }
  const dir = join(config.data_dir, 'logs');
  try {
    return await EmbeddedLogStore.open({ dir, retentionMs: retention, maxBytes: max_bytes, log });
  } catch (err) {
    throw new StartupError(`log store in ${dir}: ${(err as Error).message}`);
  }
}
