import { join } from 'node:path';
import { StartupError } from '@falconet/protocol/cli';
import type { ServerConfig } from '../config.ts';
import type { StoreLog } from '../store/types.ts';
import { EmbeddedLogStore } from './embedded.ts';
import type { LogStore } from './types.ts';

export type { LogStore } from './types.ts';

/** Opens the log store under data_dir/logs. */
export async function openLogStore(config: ServerConfig, log?: StoreLog): Promise<LogStore> {
  const dir = join(config.data_dir, 'logs');
  try {
    return await EmbeddedLogStore.open({ dir, retentionMs: config.logs.retention, maxBytes: config.logs.max_bytes, log });
  } catch (err) {
    throw new StartupError(`log store in ${dir}: ${(err as Error).message}`);
  }
}
