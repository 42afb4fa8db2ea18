import type { Kysely } from 'kysely';

/**
 * Agent identity (issue 26): each agent token is bound to one agent id and hostname, at its creation
 * when the agent is known, else by its first registration; a token may carry labels fixed at its
 * creation; and labels set on the server side live in agent_labels. Only those two kinds of labels
 * choose agents for tasks, never what an agent declares about itself.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // One column per statement: SQLite's ALTER TABLE adds one at a time.
  await db.schema.alterTable('agent_tokens').addColumn('bound_agent_id', 'text').execute();
  await db.schema.alterTable('agent_tokens').addColumn('bound_hostname', 'text').execute();
  await db.schema.alterTable('agent_tokens').addColumn('bound_ms', 'bigint').execute();
  await db.schema
    .alterTable('agent_tokens')
    .addColumn('labels', 'text', (c) => c.notNull().defaultTo('{}'))
    .execute();
  await db.schema.createIndex('agent_tokens_bound_agent').ifNotExists().on('agent_tokens').column('bound_agent_id').execute();
  await db.schema
    .createTable('agent_labels')
    .ifNotExists()
    .addColumn('agent_id', 'text', (c) => c.primaryKey())
    .addColumn('labels', 'text', (c) => c.notNull())
    .addColumn('updated_by', 'text', (c) => c.notNull())
    .addColumn('updated_ms', 'bigint', (c) => c.notNull())
    .execute();
}
