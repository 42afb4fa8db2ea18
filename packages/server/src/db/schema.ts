import type { ColumnType } from 'kysely';

/**
 * The metadata tables, on the embedded engine or on PostgreSQL. A module that adds tables adds
 * its interface here and a migration file in ./migrations.
 */
export interface AgentsTable {
  id: string;
  hostname: string;
  /** The whole AgentRecord as JSON; hostname and times are columns for filtering and sorting. */
  record: string;
  first_seen_ms: ColumnType<number, number, number>;
  last_seen_ms: ColumnType<number, number, number>;
}

/** A person who signs in to the dashboard (auth/users.ts). */
export interface UsersTable {
  id: string;
  name: string;
  role: string;
  /** `scrypt$LOG2N$r$p$salt$hash`, see auth/passwords.ts. */
  password_hash: string;
  disabled: ColumnType<number, number, number>;
  /** Wrong passwords in a row; reset by a successful sign-in. */
  failed_signins: ColumnType<number, number, number>;
  locked_until_ms: ColumnType<number, number, number>;
  created_ms: ColumnType<number, number, number>;
  updated_ms: ColumnType<number, number, number>;
}

/** A signed-in browser; the JWT in its cookie names the row, so sign-out and revocation are real. */
export interface SessionsTable {
  id: string;
  user_id: string;
  created_ms: ColumnType<number, number, number>;
  expires_ms: ColumnType<number, number, number>;
  address: string;
  user_agent: string;
}

/** A credential for scripts, sent as `Authorization: Bearer`; only a hash of its secret is kept. */
export interface ApiTokensTable {
  id: string;
  name: string;
  role: string;
  /** JSON array of route prefixes the token may call; `["*"]` for all its role allows. */
  scopes: string;
  secret_hash: string;
  created_by: string;
  created_ms: ColumnType<number, number, number>;
  /** 0 = never. */
  expires_ms: ColumnType<number, number, number>;
  /** 0 = not revoked. */
  revoked_ms: ColumnType<number, number, number>;
  last_used_ms: ColumnType<number, number, number>;
}

/** A one-time (or few-times) secret an agent exchanges for its own credential (docs/security.md). */
export interface EnrollmentTokensTable {
  id: string;
  name: string;
  secret_hash: string;
  /** JSON object of labels given to agents enrolled with it. */
  labels: string;
  created_by: string;
  created_ms: ColumnType<number, number, number>;
  expires_ms: ColumnType<number, number, number>;
  max_uses: ColumnType<number, number, number>;
  uses: ColumnType<number, number, number>;
  revoked_ms: ColumnType<number, number, number>;
}

/** Who did what, when, from where: sign-ins and every change. */
export interface AuditLogTable {
  /** Time-ordered: base-36 milliseconds then random, so ordering by id orders by time. */
  id: string;
  ts_ms: ColumnType<number, number, number>;
  actor: string;
  action: string;
  target: string;
  address: string;
  outcome: string;
  /** JSON object with whatever else the event carries. */
  detail: string;
}

/** Server-held secrets (the session signing key), shared by every instance on one database. */
export interface AuthSecretsTable {
  name: string;
  /** Sealed under the master key (db/secrets.ts), like every value in this table. */
  value: string;
  created_ms: ColumnType<number, number, number>;
}

/** Per-agent tokens (agents/tokens.ts). The token itself is never stored, only its SHA-256. */
export interface AgentTokensTable {
  id: string;
  /** The agent the token is for, as its maker named it: its hostname or its agent id. */
  agent: string;
  token_hash: string;
  /** Hex AES-256 key derived from the token, to open sealed payloads; sealed under the master key (db/secrets.ts). */
  payload_key: string;
  created_ms: ColumnType<number, number, never>;
  expires_ms: number | null;
  revoked_ms: number | null;
  last_used_ms: number | null;
  /** The one agent identity the token belongs to, fixed at creation or at its first registration. */
  bound_agent_id: ColumnType<string | null, string | null | undefined, string | null>;
  bound_hostname: ColumnType<string | null, string | null | undefined, string | null>;
  bound_ms: ColumnType<number | null, number | null | undefined, number | null>;
  /** JSON object of labels fixed in the token at its creation: trusted, they choose agents for tasks. */
  labels: ColumnType<string, string | undefined, string>;
}

/** Labels set on the server side for an agent (PUT /api/agents/:id/labels): trusted, they choose agents for tasks. */
export interface AgentLabelsTable {
  agent_id: string;
  /** JSON object. */
  labels: string;
  updated_by: string;
  updated_ms: ColumnType<number, number, number>;
}

/** A task: a command run now on some agents, or a cron job kept on them (server/src/tasks). */
export interface TasksTable {
  id: string;
  kind: 'run' | 'cron';
  command: string;
  /** JSON string[]. */
  args: string;
  /** JSON Record<string, string>. */
  env: string;
  schedule: string;
  timezone: string;
  timeout_ms: ColumnType<number, number, number>;
  /** JSON: how the agents were chosen, {agents?: string[], labels?: Record<string, string>}. */
  target: string;
  /** JSON string[]: the agents it was resolved to when created. */
  agent_ids: string;
  /** run: active | done | cancelled; cron: active | paused | deleted. */
  status: string;
  backend: 'stream' | 'etcd';
  created_by: string;
  created_ms: ColumnType<number, number, number>;
  updated_ms: ColumnType<number, number, number>;
}

/** One execution of a task on one agent. */
export interface TaskRunsTable {
  agent_id: string;
  run_id: string;
  task_id: string;
  scheduled_ms: ColumnType<number, number, number>;
  status: string;
  exit_code: number | null;
  reason: string;
  message: string;
  started_ms: ColumnType<number, number, number>;
  ended_ms: ColumnType<number | null, number | null, number | null>;
  output_bytes: ColumnType<number, number, number>;
}

/** A run's output as the agent sent it, one row per record; (agent_id, run_id, seq) makes delivery exactly once. */
export interface TaskOutputTable {
  agent_id: string;
  run_id: string;
  seq: ColumnType<number, number, number>;
  stream: string;
  data: string;
  time_ms: ColumnType<number, number, number>;
}

/** Who did what to which agent, when, and how it ended. */
export interface TaskAuditTable {
  id: string;
  time_ms: ColumnType<number, number, number>;
  actor: string;
  action: string;
  task_id: string;
  agent_id: string;
  command: string;
  result: string;
  detail: string;
}

/** An alert rule made over REST (alerts/spec.ts); rules from the rules file live in memory only. */
export interface AlertRulesTable {
  id: string;
  name: string;
  /** The rule spec as JSON, as it was written. */
  spec: string;
  created_by: string;
  created_ms: ColumnType<number, number, number>;
  updated_ms: ColumnType<number, number, number>;
}

/** A notification channel made over REST; its spec holds its secrets. */
export interface AlertChannelsTable {
  id: string;
  name: string;
  type: string;
  /** The spec as JSON, sealed under the master key (db/secrets.ts). */
  spec: string;
  created_by: string;
  created_ms: ColumnType<number, number, number>;
  updated_ms: ColumnType<number, number, number>;
}

/** A silence or maintenance window made over REST. */
export interface AlertSilencesTable {
  id: string;
  spec: string;
  created_by: string;
  created_ms: ColumnType<number, number, number>;
  updated_ms: ColumnType<number, number, number>;
  /** When a one-off silence ends, for pruning; 0 for scheduled windows. */
  ends_ms: ColumnType<number, number, number>;
}

/** Pending and firing alerts, so a restart neither forgets nor re-sends them. */
export interface AlertInstancesTable {
  rule_id: string;
  key: string;
  fingerprint: string;
  state: string;
  labels: string;
  series: string;
  agent_id: string;
  value: number;
  active_since_ms: ColumnType<number, number, number>;
  fired_at_ms: ColumnType<number, number, number>;
  notified_ms: ColumnType<number, number, number>;
  last_eval_ms: ColumnType<number, number, number>;
}

/** Every state change of every alert: pending, firing, resolved, inactive. */
export interface AlertHistoryTable {
  id: string;
  ts_ms: ColumnType<number, number, number>;
  rule_id: string;
  rule_name: string;
  fingerprint: string;
  agent_id: string;
  host: string;
  severity: string;
  from_state: string;
  to_state: string;
  reason: string;
  value: number;
  labels: string;
}

/** Each notification sent (or not) to a channel, with its attempts and last error. */
export interface AlertNotificationsTable {
  id: string;
  created_ms: ColumnType<number, number, number>;
  finished_ms: ColumnType<number, number, number>;
  channel: string;
  group_key: string;
  kind: string;
  status: string;
  title: string;
  alerts: ColumnType<number, number, number>;
  attempts: ColumnType<number, number, number>;
  error: string;
}

export interface Database {
  agents: AgentsTable;
  users: UsersTable;
  sessions: SessionsTable;
  api_tokens: ApiTokensTable;
  enrollment_tokens: EnrollmentTokensTable;
  audit_log: AuditLogTable;
  auth_secrets: AuthSecretsTable;
  agent_tokens: AgentTokensTable;
  agent_labels: AgentLabelsTable;
  tasks: TasksTable;
  task_runs: TaskRunsTable;
  task_output: TaskOutputTable;
  task_audit: TaskAuditTable;
  alert_rules: AlertRulesTable;
  alert_channels: AlertChannelsTable;
  alert_silences: AlertSilencesTable;
  alert_instances: AlertInstancesTable;
  alert_history: AlertHistoryTable;
  alert_notifications: AlertNotificationsTable;
  rollouts: RolloutsTable;
  rollout_agents: RolloutAgentsTable;
  monitors: MonitorsTable;
}

/** A self-update rollout (releases/): which release, to what share of which agents, and whether it runs. */
export interface RolloutsTable {
  id: string;
  version: string;
  /** A release target, or '' for every target the release is stored for. */
  target: string;
  percent: ColumnType<number, number, number>;
  /** JSON object of labels an agent must carry; {} for every agent. */
  selector: string;
  /** active | paused | cancelled */
  status: string;
  created_by: string;
  created_ms: ColumnType<number, number, number>;
  updated_ms: ColumnType<number, number, number>;
}

/** An agent a rollout chose, and the last state it reported (or the server inferred). */
export interface RolloutAgentsTable {
  rollout_id: string;
  agent_id: string;
  /** selected | offered | downloading | verified | refused | swapped | succeeded | rolled_back | failed */
  state: string;
  from_version: string;
  to_version: string;
  reason: string;
  selected_ms: ColumnType<number, number, number>;
  updated_ms: ColumnType<number, number, number>;
}

/** A monitor (monitors/): a probe the server keeps and assigns to the agents its selector chooses. */
export interface MonitorsTable {
  id: string;
  name: string;
  /** The MonitorSpec as JSON (@falconet/protocol/api), as it was written. */
  spec: string;
  created_by: string;
  created_ms: ColumnType<number, number, number>;
  updated_ms: ColumnType<number, number, number>;
}
