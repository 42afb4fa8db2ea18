import {
  ErrorBody,
  NoContent,
  TrafficCorrection,
  TrafficCycle,
  TrafficFleet,
  TrafficHostParams,
  TrafficPlan,
  TrafficQuery,
  TrafficReport,
} from '@falconet/protocol/api';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import '../api/access.ts';
import type { TrafficAccounting } from './accounting.ts';

export const trafficApi: FastifyPluginAsyncZod<{ traffic: TrafficAccounting }> = async (app, { traffic }) => {
  app.get(
    '/api/traffic',
    {
      config: { minRole: 'viewer' },
      schema: {
        summary: "A host's billing cycles with their daily receive and transmit bytes",
        tags: ['traffic'],
        querystring: TrafficQuery,
        response: { 200: TrafficReport, 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (req) => traffic.report(req.query.host, req.query.at, req.query.cycles),
  );
  app.get(
    '/api/traffic/fleet',
    {
      config: { minRole: 'viewer' },
      schema: { summary: "Every host's current cycle", tags: ['traffic'], response: { 200: TrafficFleet } },
    },
    async () => traffic.fleet(),
  );
  app.put(
    '/api/traffic/plans/:host',
    {
      config: { minRole: 'admin' },
      schema: {
        summary: "Sets a host's billing plan (over the server config's)",
        tags: ['traffic'],
        params: TrafficHostParams,
        body: TrafficPlan,
        response: { 200: TrafficPlan, 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (req) => traffic.setPlan(req.params.host, req.body),
  );
  app.delete(
    '/api/traffic/plans/:host',
    {
      config: { minRole: 'admin' },
      schema: {
        summary: "Drops a host's API-set plan",
        tags: ['traffic'],
        params: TrafficHostParams,
        response: { 204: NoContent, 404: ErrorBody },
      },
    },
    async (req, reply) => {
      await traffic.clearPlan(req.params.host);
      return reply.code(204).send(null);
    },
  );
  app.post(
    '/api/traffic/correction/:host',
    {
      config: { minRole: 'admin' },
      schema: {
        summary: "Sets the current cycle's receive/transmit bytes to the provider's, kept as an offset",
        tags: ['traffic'],
        params: TrafficHostParams,
        body: TrafficCorrection,
        response: { 200: TrafficCycle, 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (req) => traffic.correct(req.params.host, req.body),
  );
  app.delete(
    '/api/traffic/correction/:host',
    {
      config: { minRole: 'admin' },
      schema: {
        summary: "Drops the current cycle's correction",
        tags: ['traffic'],
        params: TrafficHostParams,
        response: { 204: NoContent, 404: ErrorBody },
      },
    },
    async (req, reply) => {
      await traffic.clearCorrection(req.params.host);
      return reply.code(204).send(null);
    },
  );
};
