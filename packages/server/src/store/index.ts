import { join } from 'node:path';
import { StartupError } from '@falconet/protocol/cli';
import type { ServerConfig } from '../config.ts';
import { EmbeddedStore } from './embedded/engine.ts';
import type { Store, StoreLog } from './types.ts';

export type { Store } from './types.ts';

const PG_URL = /^postgres(ql)?:\/\//;

/** Which engine the configuration asks for: `auto` follows database.url (it never picks VictoriaMetrics). */
export function storeEngine(config: ServerConfig): 'embedded' | 'postgres' | 'victoriametrics' {
  const engine = config.store.engine;
  if (engine !== 'auto') return engine;
  return PG_URL.test(config.database.url) ? 'postgres' : 'embedded';
}

/** Opens the samples store the configuration names (migrating the PostgreSQL schema first). */
export async function openStore(config: ServerConfig, log?: StoreLog): Promise<Store> {
  const s = config.store;
  if (storeEngine(config) === 'victoriametrics') {
    // The schema makes store.victoriametrics required with this engine.
    const vm = s.victoriametrics as NonNullable<typeof s.victoriametrics>;
    const { VictoriaStore } = await import('./victoria/engine.ts');
    // VictoriaMetrics keeps samples for its own -retentionPeriod: store.retention and max_size are not its.
    if (s.max_size > 0) log?.warn({ max_size: s.max_size }, 'store.max_size does not apply to VictoriaMetrics: its -retentionPeriod does');
    try {
      return await VictoriaStore.open({ url: vm.url, timeoutMs: vm.timeout, log });
    } catch (err) {
      const unreachable = (err as { status?: number }).status === 0;
      throw new StartupError(
        `samples store on VictoriaMetrics (store.victoriametrics.url ${vm.url}): ${(err as Error).message}${unreachable ? '; start VictoriaMetrics there or fix the URL' : ''}`,
      );
    }
  }
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
