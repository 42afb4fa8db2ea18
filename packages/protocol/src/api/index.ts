/**
 * The API contract: zod schemas of every REST request and answer and of the `/api/live` messages,
 * one file per area. The server validates with them and generates its OpenAPI document from them;
 * the dashboard imports their types only (`import type`), so zod never enters its bundle.
 */
export * from './agents.ts';
export * from './alerts.ts';
export * from './auth.ts';
export * from './cluster.ts';
export * from './common.ts';
export * from './enums.ts';
export * from './errors.ts';
export * from './fleet.ts';
export * from './live.ts';
export * from './logs.ts';
export * from './metrics.ts';
export * from './monitors.ts';
export * from './push.ts';
export * from './releases.ts';
export * from './status-pages.ts';
export * from './tasks.ts';
export * from './traffic.ts';
