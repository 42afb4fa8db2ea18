/**
 * REST for monitors under /api/monitors: the list with search, status filter, sorting and counts,
 * one monitor with its locations, its history, and changes. Reads need a viewer, changes an operator.
 */
import {
  ErrorBody,
  Monitor,
  MonitorDetail,
  MonitorHistory,
  MonitorHistoryQuery,
  MonitorList,
  MonitorListQuery,
  MonitorParams,
  MonitorSpec,
  NoContent,
} from '@falconet/protocol/api';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import '../api/access.ts';
import { actorOf } from '../auth/service.ts';
import type { MonitorService } from './service.ts';

export const monitorsApi: FastifyPluginAsyncZod<{ monitors: MonitorService }> = async (app, { monitors }) => {
  app.get(
    '/api/monitors',
    {
      config: { minRole: 'viewer' },
      schema: {
        summary: 'Monitors, searched, filtered by status, sorted and paged, with counts by status',
        tags: ['monitors'],
        querystring: MonitorListQuery,
        response: { 200: MonitorList, 400: ErrorBody },
      },
    },
    async (req) => monitors.list(req.query),
  );
  app.post(
    '/api/monitors',
    {
      config: { minRole: 'operator' },
      schema: {
        summary: 'Creates a monitor; the agents it chooses start its probe',
        tags: ['monitors'],
        body: MonitorSpec,
        response: { 201: Monitor, 400: ErrorBody },
      },
    },
    async (req, reply) => reply.status(201).send(await monitors.create(req.body, actorOf(req.identity))),
  );
  app.get(
    '/api/monitors/:id',
    {
      config: { minRole: 'viewer' },
      schema: {
        summary: 'One monitor with its locations',
        tags: ['monitors'],
        params: MonitorParams,
        response: { 200: MonitorDetail, 404: ErrorBody },
      },
    },
    async (req) => monitors.get(req.params.id),
  );
  app.put(
    '/api/monitors/:id',
    {
      config: { minRole: 'operator' },
      schema: {
        summary: "Replaces a monitor's spec",
        tags: ['monitors'],
        params: MonitorParams,
        body: MonitorSpec,
        response: { 200: Monitor, 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (req) => monitors.update(req.params.id, req.body),
  );
  app.delete(
    '/api/monitors/:id',
    {
      config: { minRole: 'operator' },
      schema: {
        summary: 'Deletes a monitor; its agents stop its probe',
        tags: ['monitors'],
        params: MonitorParams,
        response: { 204: NoContent, 404: ErrorBody },
      },
    },
    async (req, reply) => {
      await monitors.remove(req.params.id);
      return reply.status(204).send(null);
    },
  );
  app.get(
    '/api/monitors/:id/history',
    {
      config: { minRole: 'viewer' },
      schema: {
        summary: 'Per location, latency (ms) and success (0..1) over time',
        tags: ['monitors'],
        params: MonitorParams,
        querystring: MonitorHistoryQuery,
        response: { 200: MonitorHistory, 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (req) => monitors.history(req.params.id, req.query.from, req.query.to, req.query.step),
  );
};
