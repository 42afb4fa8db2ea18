import { LogLevel } from '@falconet/protocol';

/** Level names in severity order; the index is the LogLevel number (0 = not given). */
export const LEVEL_NAMES = ['unspecified', 'trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
export type LevelName = (typeof LEVEL_NAMES)[number];

const ALIASES: Record<string, LogLevel> = {
  unspecified: LogLevel.LOG_LEVEL_UNSPECIFIED,
  none: LogLevel.LOG_LEVEL_UNSPECIFIED,
  trace: LogLevel.LOG_LEVEL_TRACE,
  debug: LogLevel.LOG_LEVEL_DEBUG,
  info: LogLevel.LOG_LEVEL_INFO,
  notice: LogLevel.LOG_LEVEL_INFO,
  warn: LogLevel.LOG_LEVEL_WARN,
  warning: LogLevel.LOG_LEVEL_WARN,
  error: LogLevel.LOG_LEVEL_ERROR,
  err: LogLevel.LOG_LEVEL_ERROR,
  fatal: LogLevel.LOG_LEVEL_FATAL,
  critical: LogLevel.LOG_LEVEL_FATAL,
  crit: LogLevel.LOG_LEVEL_FATAL,
  panic: LogLevel.LOG_LEVEL_FATAL,
  emerg: LogLevel.LOG_LEVEL_FATAL,
  alert: LogLevel.LOG_LEVEL_FATAL,
};

/** The level a word names (case-insensitive), or undefined. */
export function levelFromName(word: string): LogLevel | undefined {
  const key = word.toLowerCase();
  // Own keys only: "constructor" or "__proto__" would read Object.prototype's members (found by the fuzz tests).
  return Object.hasOwn(ALIASES, key) ? ALIASES[key] : undefined;
}

export function levelName(level: number): LevelName {
  return LEVEL_NAMES[level] ?? 'unspecified';
}
