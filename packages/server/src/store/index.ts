import { join } from 'node:path';
import { StartupError } from '@falconet/protocol/cli';
import type { ServerConfig } from '../config.ts';
import { EmbeddedStore } from './embedded/engine.ts';
import type { Store, StoreLog } from './types.ts';

export type { Store } from './types.ts';

const PG_URL = /^postgres(ql)?:\/\//;

/** Which engine the configuration asks for: `auto` follows database.url. */
export function storeEngine(config: ServerConfig): 'embedded' | 'postgres' {
  const engine = config.store.engine;
  if (engine !== 'auto') return engine;
  return PG_URL.test(config.database.url) ? 'postgres' : 'embedded';
}

/** Opens the samples store the configuration names (migrating the PostgreSQL schema first). */
export async function openStore(config: ServerConfig, log?: StoreLog): Promise<Store> {
  const s = config.store;
  if (storeEngine(config) === 'postgres') {
    if (!PG_URL.test(config.database.url)) {
      throw new StartupError(
        'store.engine is postgres but database.url is not a postgres:// URL; set database.url or store.engine: embedded',
      );
    }
    const { PostgresStore } = await import('./postgres/engine.ts');
    try {
      return await PostgresStore.open({ url: config.database.url, retention: s.retention, maxBytes: s.max_size, log });
    } catch (err) {
      throw new StartupError(`samples store on PostgreSQL: ${(err as Error).message}`);
    }
  }
  const dir = join(config.data_dir, 'samples');
  try {
    return await EmbeddedStore.open({
      dir,
      retention: s.retention,
      maxBytes: s.max_size,
      headMaxSamples: s.head_max_samples,
      headMaxAgeMs: s.head_max_age,
      maxSeries: s.max_series,
      log,
    });
  } catch (err) {
    throw new StartupError(`samples store in ${dir}: ${(err as Error).message}`);
  }
}
