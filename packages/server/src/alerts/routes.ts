/**
 * REST for alerting under /api/alerts: active alerts, rules, channels, silences, history and
 * deliveries. Reads need a viewer, changes an operator; the auth layer audits every change.
 */
import {
  AlertChannel,
  AlertChannelList,
  AlertHistory,
  AlertHistoryQuery,
  AlertList,
  AlertListQuery,
  AlertObjectParams,
  AlertRule,
  AlertRuleList,
  AlertSilence,
  AlertSilenceList,
  ChannelKindList,
  ChannelTest,
  DeliveryList,
  DeliveryQuery,
  ErrorBody,
  EvaluatorStatus,
  NoContent,
  RulePreview,
  SilenceListQuery,
} from '@falconet/protocol/api';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import '../api/access.ts';
import { notFound } from '../api/errors.ts';
import type { AuditLog } from '../auth/audit.ts';
import { actorOf } from '../auth/service.ts';
import type { ChannelRecord, RuleRecord, SilenceRecord } from './catalog.ts';
import { CHANNEL_KINDS } from './channel-kinds.ts';
import { maskChannel, SecretRequiredError } from './channel-secrets.ts';
import { isOutcome, OUTCOME } from './channels/index.ts';
import type { AlertService } from './service.ts';
import { Silence } from './silences.ts';
import { channelSpecSchema, ruleSpecSchema, silenceSpecSchema } from './spec.ts';

/** Fields of the views above that are not part of a spec. */
const READ_ONLY = [
  'id',
  'source',
  'createdBy',
  'createdMs',
  'updatedMs',
  'health',
  'pending',
  'firing',
  'active',
  'expired',
  'startsMs',
  'endsMs',
];

const errors = { 400: ErrorBody, 404: ErrorBody, 409: ErrorBody };

/** `audit`: the server's audit log, for the refusals this module records itself. */
export const alertsApi: FastifyPluginAsyncZod<{ alerts: AlertService; audit: AuditLog }> = async (app, { alerts, audit }) => {
  const { catalog } = alerts;
  const ruleView = (r: RuleRecord) => ({ ...r.spec, ...metaOf(r), ...alerts.ruleCounts(r.id) });
  const channelView = (c: ChannelRecord) => {
    const { channel: _, ...health } = alerts.queue.health(c.spec.name);
    return { ...maskChannel(c.spec), ...metaOf(c), health };
  };
  const silenceView = (s: SilenceRecord) => {
    const now = Date.now();
    const live = new Silence(s.id, s.spec, { source: s.source, createdBy: s.createdBy, createdMs: s.createdMs });
    const w = live.window(now);
    return {
      ...s.spec,
      ...metaOf(s),
      active: live.activeAt(now),
      expired: live.expiredAt(now),
      startsMs: w?.startMs ?? null,
      endsMs: w && Number.isFinite(w.endMs) ? w.endMs : null,
    };
  };
  // What a GET shows besides the spec may come back in a PUT of the same object: it is not the caller's to set.
  app.addHook('preValidation', async (req) => {
    if ((req.method === 'PUT' || req.method === 'POST') && req.body && typeof req.body === 'object' && !Array.isArray(req.body)) {
      const body = req.body as Record<string, unknown>;
      for (const k of READ_ONLY) delete body[k];
    }
  });
  const changed = async <T>(p: Promise<T>): Promise<T> => {
    const out = await p;
    await alerts.changed();
    return out;
  };

  app.get(
    '/api/alerts',
    {
      config: { minRole: 'viewer' },
      schema: {
        summary: 'Pending and firing alerts',
        tags: ['alerts'],
        querystring: AlertListQuery,
        response: { 200: AlertList, 400: ErrorBody },
      },
    },
    async (req) => {
      const q = req.query;
      const items = alerts
        .alerts()
        .filter(
          (a) =>
            (!q.state || a.state === q.state) &&
            (!q.rule || a.ruleId === q.rule) &&
            (!q.host || a.host === q.host || a.agent === q.host) &&
            (!q.severity || a.severity === q.severity) &&
            (!q.silenced || a.silencedBy.length > 0 === (q.silenced === 'true')),
        )
        .sort((a, b) => b.activeSinceMs - a.activeSinceMs || a.fingerprint.localeCompare(b.fingerprint));
      return { items: items.slice(0, q.limit), total: items.length };
    },
  );

  app.get(
    '/api/alerts/status',
    {
      config: { minRole: 'viewer' },
      schema: {
        summary: 'The evaluator: last cycle, rules, series in memory, warming',
        tags: ['alerts'],
        response: { 200: EvaluatorStatus },
      },
    },
    async () => alerts.status(),
  );

  // --- rules ---
  app.get(
    '/api/alerts/rules',
    {
      config: { minRole: 'viewer' },
      schema: {
        summary: 'Alert rules, from the API and the rules file',
        tags: ['alerts'],
        response: { 200: AlertRuleList },
      },
    },
    async () => ({ items: catalog.rules.map(ruleView) }),
  );
  // A viewer may preview: it reads what the metrics API already shows them, and changes nothing (so no audit row).
  app.post(
    '/api/alerts/preview',
    {
      config: { minRole: 'viewer', audit: false },
      schema: {
        summary: 'Evaluate a draft rule once, now: its value per host and series and whether its condition holds',
        tags: ['alerts'],
        body: ruleSpecSchema,
        response: { 200: RulePreview, 400: ErrorBody },
      },
    },
    async (req) => await alerts.preview(req.body),
  );
  app.get(
    '/api/alerts/rules/:id',
    {
      config: { minRole: 'viewer' },
      schema: { summary: 'One alert rule', tags: ['alerts'], params: AlertObjectParams, response: { 200: AlertRule, 404: ErrorBody } },
    },
    async (req) => {
      const r = catalog.rule(req.params.id);
      if (!r) throw notFound(`rule "${req.params.id}"`);
      return ruleView(r);
    },
  );
  app.post(
    '/api/alerts/rules',
    {
      config: { minRole: 'operator' },
      schema: { summary: 'Create an alert rule', tags: ['alerts'], body: ruleSpecSchema, response: { 201: AlertRule, ...errors } },
    },
    async (req, reply) => {
      const rec = await changed(catalog.createRule(req.body, actorOf(req.identity)));
      return reply.status(201).send(ruleView(rec));
    },
  );
  app.put(
    '/api/alerts/rules/:id',
    {
      config: { minRole: 'operator' },
      schema: {
        summary: 'Replace an alert rule',
        tags: ['alerts'],
        params: AlertObjectParams,
        body: ruleSpecSchema,
        response: { 200: AlertRule, ...errors },
      },
    },
    async (req) => ruleView(await changed(catalog.updateRule(req.params.id, req.body))),
  );
  app.delete(
    '/api/alerts/rules/:id',
    {
      config: { minRole: 'operator' },
      schema: {
        summary: 'Delete an alert rule; its firing alerts resolve',
        tags: ['alerts'],
        params: AlertObjectParams,
        response: { 204: NoContent, ...errors },
      },
    },
    async (req, reply) => {
      await changed(catalog.deleteRule(req.params.id));
      return reply.status(204).send(null);
    },
  );

  // --- channels ---
  app.get(
    '/api/alerts/channels',
    {
      config: { minRole: 'viewer' },
      schema: {
        summary: 'Notification channels, secrets masked, with delivery health',
        tags: ['alerts'],
        response: { 200: AlertChannelList },
      },
    },
    async () => ({ items: catalog.channels.map(channelView) }),
  );
  app.get(
    '/api/alerts/channel-kinds',
    {
      config: { minRole: 'viewer' },
      schema: {
        summary: "Each channel type's own settings (name, type, required, secret, help), for forms",
        tags: ['alerts'],
        response: { 200: ChannelKindList },
      },
    },
    async () => ({ items: [...CHANNEL_KINDS] }),
  );
  app.get(
    '/api/alerts/channels/:id',
    {
      config: { minRole: 'viewer' },
      schema: {
        summary: 'One channel (by id or name)',
        tags: ['alerts'],
        params: AlertObjectParams,
        response: { 200: AlertChannel, 404: ErrorBody },
      },
    },
    async (req) => {
      const c = catalog.channel(req.params.id);
      if (!c) throw notFound(`channel "${req.params.id}"`);
      return channelView(c);
    },
  );
  app.post(
    '/api/alerts/channels',
    {
      config: { minRole: 'operator' },
      schema: {
        summary: 'Create a notification channel',
        tags: ['alerts'],
        body: channelSpecSchema,
        response: { 201: AlertChannel, ...errors },
      },
    },
    async (req, reply) => reply.status(201).send(channelView(await changed(catalog.createChannel(req.body, actorOf(req.identity))))),
  );
  app.put(
    '/api/alerts/channels/:id',
    {
      config: { minRole: 'operator' },
      schema: {
        summary: 'Replace a channel; masked secrets sent back are kept unless the destination changes (then 400 secret_required)',
        tags: ['alerts'],
        params: AlertObjectParams,
        body: channelSpecSchema,
        response: { 200: AlertChannel, ...errors },
      },
    },
    async (req) => {
      const rec = await catalog.updateChannel(req.params.id, req.body).catch(async (err: unknown) => {
        if (err instanceof SecretRequiredError) {
          // Repointing a channel while keeping its stored secret is how the secret would be read: a refusal, counted and audited.
          alerts.counters.secretRequired++;
          req.audited = true;
          await audit.record({
            actor: actorOf(req.identity),
            action: 'alert_channel.update',
            target: req.params.id,
            address: req.ip,
            outcome: 'denied',
            detail: { status: 400, code: 'secret_required', field: err.field, changed: err.changed },
          });
        }
        throw err;
      });
      await alerts.changed();
      return channelView(rec);
    },
  );
  app.delete(
    '/api/alerts/channels/:id',
    {
      config: { minRole: 'operator' },
      schema: {
        summary: 'Delete a channel no rule names',
        tags: ['alerts'],
        params: AlertObjectParams,
        response: { 204: NoContent, ...errors },
      },
    },
    async (req, reply) => {
      await changed(catalog.deleteChannel(req.params.id));
      return reply.status(204).send(null);
    },
  );
  app.post(
    '/api/alerts/channels/:id/test',
    {
      config: { minRole: 'operator' },
      schema: {
        summary: 'Send a test message through a channel, once, and report the outcome as a fixed phrase',
        tags: ['alerts'],
        params: AlertObjectParams,
        response: { 200: ChannelTest, 404: ErrorBody },
      },
    },
    async (req) => {
      const c = catalog.channel(req.params.id);
      if (!c) throw notFound(`channel "${req.params.id}"`);
      return await alerts.testChannel(c.spec.name);
    },
  );

  // --- silences ---
  app.get(
    '/api/alerts/silences',
    {
      config: { minRole: 'viewer' },
      schema: {
        summary: 'Silences and maintenance windows, with whether each is open now',
        tags: ['alerts'],
        querystring: SilenceListQuery,
        response: { 200: AlertSilenceList, 400: ErrorBody },
      },
    },
    async (req) => ({ items: catalog.silences.map(silenceView).filter((s) => req.query.expired === 'true' || !s.expired) }),
  );
  app.post(
    '/api/alerts/silences',
    {
      config: { minRole: 'operator' },
      schema: {
        summary: 'Silence alerts, once or on a schedule',
        tags: ['alerts'],
        body: silenceSpecSchema,
        response: { 201: AlertSilence, ...errors },
      },
    },
    async (req, reply) => reply.status(201).send(silenceView(await changed(catalog.createSilence(req.body, actorOf(req.identity))))),
  );
  app.put(
    '/api/alerts/silences/:id',
    {
      config: { minRole: 'operator' },
      schema: {
        summary: 'Replace a silence',
        tags: ['alerts'],
        params: AlertObjectParams,
        body: silenceSpecSchema,
        response: { 200: AlertSilence, ...errors },
      },
    },
    async (req) => silenceView(await changed(catalog.updateSilence(req.params.id, req.body))),
  );
  app.delete(
    '/api/alerts/silences/:id',
    {
      config: { minRole: 'operator' },
      schema: {
        summary: 'Remove a silence (end it now)',
        tags: ['alerts'],
        params: AlertObjectParams,
        response: { 204: NoContent, ...errors },
      },
    },
    async (req, reply) => {
      await changed(catalog.deleteSilence(req.params.id));
      return reply.status(204).send(null);
    },
  );

  // --- history and deliveries ---
  app.get(
    '/api/alerts/history',
    {
      config: { minRole: 'viewer' },
      schema: {
        summary: 'State changes of alerts, newest first',
        tags: ['alerts'],
        querystring: AlertHistoryQuery,
        response: { 200: AlertHistory, 400: ErrorBody },
      },
    },
    async (req) => {
      const q = req.query;
      return {
        items: await alerts.repo.history({
          ruleId: q.rule,
          fingerprint: q.fingerprint,
          host: q.host,
          to: q.to,
          fromMs: q.from,
          toMs: q.until,
          before: q.before,
          limit: q.limit,
        }),
      };
    },
  );
  app.get(
    '/api/alerts/notifications',
    {
      config: { minRole: 'viewer' },
      schema: {
        summary: 'Notifications sent to channels, with attempts and errors, newest first',
        tags: ['alerts'],
        querystring: DeliveryQuery,
        response: { 200: DeliveryList, 400: ErrorBody },
      },
    },
    async (req) => {
      const items = await alerts.repo.deliveries({ ...req.query });
      // Records from before errors were fixed phrases may hold what the remote side answered.
      return { items: items.map((d) => (isOutcome(d.error) ? d : { ...d, error: OUTCOME.hidden })) };
    },
  );
};

function metaOf(r: { id: string; source: 'api' | 'file'; createdBy: string; createdMs: number; updatedMs: number }) {
  return { id: r.id, source: r.source, createdBy: r.createdBy, createdMs: r.createdMs, updatedMs: r.updatedMs };
}
