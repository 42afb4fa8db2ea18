/**
 * What syslog's numbers mean, shared by the agent's syslog parser and the server's syslog receiver:
 * facility names by code (RFC 5424 table 1) and a severity as a LogLevel.
 */
import { LogLevel } from './gen/falconet/v1/agent.ts';

/** Facility names by code; codes past the table are written as numbers by the callers. */
export const SYSLOG_FACILITIES: readonly string[] = [
  'kern',
  'user',
  'mail',
  'daemon',
  'auth',
  'syslog',
  'lpr',
  'news',
  'uucp',
  'cron',
  'authpriv',
  'ftp',
  'ntp',
  'security',
  'console',
  'solaris-cron',
  'local0',
  'local1',
  'local2',
  'local3',
  'local4',
  'local5',
  'local6',
  'local7',
];

/** Syslog severity (0 emerg .. 7 debug) as the contract maps it: 0-2 fatal, 3 error, 4 warn, 5-6 info, 7 debug. */
export function levelFromSeverity(severity: number): LogLevel {
  if (severity <= 2) return LogLevel.LOG_LEVEL_FATAL;
  if (severity === 3) return LogLevel.LOG_LEVEL_ERROR;
  if (severity === 4) return LogLevel.LOG_LEVEL_WARN;
  if (severity <= 6) return LogLevel.LOG_LEVEL_INFO;
  return LogLevel.LOG_LEVEL_DEBUG;
}
