/**
 * The values of the API's enums, as plain lists without zod: the contract's schemas make `z.enum`s
 * of them, the server checks against them, and the dashboard lists them in its forms
 * (`@falconet/protocol/api/enums`) without taking zod into its bundle.
 */

/** Who may call a route: viewer reads, operator acts (tasks, silences), admin manages users and tokens. */
export const ROLES = ['viewer', 'operator', 'admin'] as const;
/** How a caller is known: a browser session, an API token, or loopback before any user exists. */
export const IDENTITY_KINDS = ['session', 'token', 'local'] as const;
/** setup: no user exists yet, loopback needs no sign-in. */
export const SESSION_MODES = ['setup', 'signed-in', 'signed-out'] as const;
export const AUDIT_OUTCOMES = ['ok', 'denied', 'failed', 'locked'] as const;

export const AGENT_STATUSES = ['online', 'offline'] as const;
/** What forgetting an agent does with its stored samples: kept for if it comes back, or deleted. */
export const FORGET_DATA = ['keep', 'drop'] as const;

/** How the points inside one time bucket become one value. */
export const SERIES_AGGREGATIONS = ['avg', 'min', 'max', 'last', 'sum', 'count', 'p95'] as const;
/** How the values of several series in one bucket become one value. */
export const ACROSS_AGGREGATIONS = ['avg', 'min', 'max', 'sum', 'count'] as const;
/** The spans GET /api/fleet/summary?history= answers for. */
export const FLEET_HISTORY_SPANS = ['15m', '1h', '6h', '24h', '7d', '30d'] as const;

export const TASK_KINDS = ['run', 'cron'] as const;
export const TASK_STATUSES = ['active', 'done', 'paused', 'deleted', 'cancelled'] as const;
export const RUN_STATUSES = [
  'pending',
  'sent',
  'running',
  'succeeded',
  'failed',
  'refused',
  'timeout',
  'cancelled',
  'interrupted',
  'undeliverable',
] as const;
/** Where the server keeps tasks for its agents: on their streams, or in etcd. */
export const TASK_BACKENDS = ['stream', 'etcd'] as const;
/** An agent's etcd health: alive while its lease holds, lost once it expired. */
export const TASK_AGENT_HEALTH = ['alive', 'lost'] as const;
export const TASK_OUTPUT_STREAMS = ['stdout', 'stderr', 'exit', 'refused'] as const;

export const ALERT_STATES = ['pending', 'firing'] as const;
/** The states an alert's history records it moving to. */
export const ALERT_HISTORY_STATES = ['pending', 'firing', 'resolved', 'inactive'] as const;
export const SEVERITIES = ['info', 'warning', 'critical'] as const;
export const RULE_KINDS = [
  'threshold',
  'agent_offline',
  'no_data',
  'container_down',
  'container_restarting',
  'disk_full',
  'log_lines',
] as const;
/** Whether a log_lines rule counts each host's lines on its own or the fleet's together. */
export const LOG_RULE_SCOPES = ['host', 'fleet'] as const;
/** How a threshold rule reduces its window of samples to one value. */
export const WINDOW_AGGREGATIONS = ['avg', 'min', 'max', 'last', 'sum', 'count', 'rate', 'increase', 'delta'] as const;
export const COMPARISONS = ['>', '>=', '<', '<=', '==', '!='] as const;
export const MATCH_OPS = ['=', '!=', '=~', '!~'] as const;
/** Where a rule, channel or silence comes from: the REST API or the rules file. */
export const SPEC_SOURCES = ['api', 'file'] as const;
export const DELIVERY_STATUSES = ['queued', 'sending', 'delivered', 'failed', 'dropped'] as const;
/** How a channel type's setting is entered: GET /api/alerts/channel-kinds describes each with one of these. */
export const CHANNEL_FIELD_TYPES = ['string', 'number', 'boolean', 'choice', 'string_list', 'map'] as const;
/** Status pages (api/status-pages.ts): the languages a public page is written in, incident severities, an item's status. */
export const STATUS_LANGUAGES = ['en', 'zh'] as const;
export const INCIDENT_SEVERITIES = ['maintenance', 'minor', 'major', 'critical'] as const;
export const PUBLIC_STATUSES = ['up', 'degraded', 'down', 'unknown'] as const;
