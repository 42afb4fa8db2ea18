import type { Kysely } from 'kysely';

// Numbered after its issue (8) in the 0200 block so migrations of other modules never collide.
export async function up(db: Kysely<unknown>): Promise<void> {
  for (const table of ['alert_rules', 'alert_channels'] as const) {
    let t = db.schema
      .createTable(table)
      .ifNotExists()
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => (table === 'alert_channels' ? c.notNull().unique() : c.notNull()));
    if (table === 'alert_channels') t = t.addColumn('type', 'text', (c) => c.notNull());
    await t
      .addColumn('spec', 'text', (c) => c.notNull())
      .addColumn('created_by', 'text', (c) => c.notNull())
      .addColumn('created_ms', 'bigint', (c) => c.notNull())
      .addColumn('updated_ms', 'bigint', (c) => c.notNull())
      .execute();
  }
  await db.schema
    .createTable('alert_silences')
    .ifNotExists()
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('spec', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_ms', 'bigint', (c) => c.notNull())
    .addColumn('updated_ms', 'bigint', (c) => c.notNull())
    .addColumn('ends_ms', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('alert_instances')
    .ifNotExists()
    .addColumn('rule_id', 'text', (c) => c.notNull())
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('fingerprint', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('labels', 'text', (c) => c.notNull())
    .addColumn('series', 'text', (c) => c.notNull())
    .addColumn('agent_id', 'text', (c) => c.notNull())
    .addColumn('value', 'double precision', (c) => c.notNull())
    .addColumn('active_since_ms', 'bigint', (c) => c.notNull())
    .addColumn('fired_at_ms', 'bigint', (c) => c.notNull())
    .addColumn('notified_ms', 'bigint', (c) => c.notNull())
    .addColumn('last_eval_ms', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('alert_instances_pk', ['rule_id', 'key'])
    .execute();
  await db.schema
    .createTable('alert_history')
    .ifNotExists()
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('ts_ms', 'bigint', (c) => c.notNull())
    .addColumn('rule_id', 'text', (c) => c.notNull())
    .addColumn('rule_name', 'text', (c) => c.notNull())
    .addColumn('fingerprint', 'text', (c) => c.notNull())
    .addColumn('agent_id', 'text', (c) => c.notNull())
    .addColumn('host', 'text', (c) => c.notNull())
    .addColumn('severity', 'text', (c) => c.notNull())
    .addColumn('from_state', 'text', (c) => c.notNull())
    .addColumn('to_state', 'text', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('value', 'double precision', (c) => c.notNull())
    .addColumn('labels', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('alert_history_ts').ifNotExists().on('alert_history').column('ts_ms').execute();
  await db.schema.createIndex('alert_history_rule').ifNotExists().on('alert_history').columns(['rule_id', 'ts_ms']).execute();
  await db.schema.createIndex('alert_history_fp').ifNotExists().on('alert_history').columns(['fingerprint', 'ts_ms']).execute();
  await db.schema
    .createTable('alert_notifications')
    .ifNotExists()
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('created_ms', 'bigint', (c) => c.notNull())
    .addColumn('finished_ms', 'bigint', (c) => c.notNull())
    .addColumn('channel', 'text', (c) => c.notNull())
    .addColumn('group_key', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('title', 'text', (c) => c.notNull())
    .addColumn('alerts', 'integer', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull())
    .addColumn('error', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('alert_notifications_ts').ifNotExists().on('alert_notifications').column('created_ms').execute();
  await db.schema
    .createIndex('alert_notifications_channel')
    .ifNotExists()
    .on('alert_notifications')
    .columns(['channel', 'created_ms'])
    .execute();
}
