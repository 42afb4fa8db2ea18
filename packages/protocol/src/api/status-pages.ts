import { z } from 'zod';
import { INCIDENT_SEVERITIES, PUBLIC_STATUSES, STATUS_LANGUAGES } from './enums.ts';

/**
 * Public status pages (docs/status-pages.md): a page shows chosen hosts (agents) and monitors with
 * 90 days of daily uptime and the page's incidents, at `/status/<slug>` to anyone, signed in or not.
 * The admin side (`/api/status-pages`) writes them; the public side (`/api/public/status/:slug`)
 * answers only the PublicStatusPage below, which names nothing the page does not show.
 */

/** Days of uptime a public page shows, today included. */
export const STATUS_DAYS = 90;

export const StatusLanguage = z.enum(STATUS_LANGUAGES);
export type StatusLanguage = z.infer<typeof StatusLanguage>;

export const statusSlug = z
  .string()
  .min(1, 'a slug')
  .max(64)
  .regex(/^[a-z0-9]+(-[a-z0-9]+)*$/, 'a slug is lowercase letters and digits, words joined by single hyphens');

const itemId = z.string().min(1).max(200);

/** What an operator writes. */
export const StatusPageSpec = z
  .object({
    slug: statusSlug,
    title: z.string().trim().min(1, 'a title').max(200),
    description: z.string().max(2000).default(''),
    language: StatusLanguage.default('en'),
    /** Agent ids, in the order the page lists them. */
    hosts: z.array(itemId).max(200).default([]),
    /** Monitor ids (api/monitors.ts), in the order the page lists them. */
    monitors: z.array(itemId).max(200).default([]),
    /**
     * The name the page shows for a host or monitor, by its id; without one the page shows the
     * host's hostname or the monitor's name.
     */
    display_names: z.record(itemId, z.string().trim().min(1).max(200)).default({}),
    /** Also show figures: a monitor's latency, a host's CPU and memory use. Off: status and uptime only. */
    show_values: z.boolean().default(false),
  })
  .strict()
  .superRefine((s, ctx) => {
    const seen = new Set<string>();
    for (const [field, ids] of [
      ['hosts', s.hosts],
      ['monitors', s.monitors],
    ] as const) {
      ids.forEach((id, i) => {
        if (seen.has(`${field}:${id}`)) ctx.addIssue({ code: 'custom', path: [field, i], message: `${id} is listed twice` });
        seen.add(`${field}:${id}`);
      });
    }
    for (const id of Object.keys(s.display_names)) {
      if (!seen.has(`hosts:${id}`) && !seen.has(`monitors:${id}`))
        ctx.addIssue({ code: 'custom', path: ['display_names', id], message: `${id} is neither a host nor a monitor of this page` });
    }
  });
export type StatusPageSpec = z.infer<typeof StatusPageSpec>;
export type StatusPageSpecInput = z.input<typeof StatusPageSpec>;

export const StatusPage = z.object({
  id: z.string(),
  spec: StatusPageSpec,
  createdBy: z.string(),
  createdMs: z.number(),
  updatedMs: z.number(),
});
export type StatusPage = z.infer<typeof StatusPage>;
export const StatusPageList = z.object({ items: z.array(StatusPage) });
export type StatusPageList = z.infer<typeof StatusPageList>;

export const IncidentSeverity = z.enum(INCIDENT_SEVERITIES);
export type IncidentSeverity = z.infer<typeof IncidentSeverity>;

/** Plain text, shown as text (never as HTML) on the public page. */
const plainText = (max: number) => z.string().max(max);

/** A later note on an incident ("found the cause", "fixed"). */
export const IncidentUpdate = z.object({
  atMs: z.number(),
  body: plainText(5000),
});
export type IncidentUpdate = z.infer<typeof IncidentUpdate>;

export const Incident = z.object({
  id: z.string(),
  title: z.string(),
  body: z.string(),
  severity: IncidentSeverity,
  startedMs: z.number(),
  /** null while it lasts. */
  resolvedMs: z.number().nullable(),
  updates: z.array(IncidentUpdate),
});
export type Incident = z.infer<typeof Incident>;
export const IncidentList = z.object({ items: z.array(Incident) });
export type IncidentList = z.infer<typeof IncidentList>;

const epochMs = z.number().int().min(0).max(8.64e15);

/** What an operator writes to open or edit an incident. */
export const IncidentSpec = z
  .object({
    title: z.string().trim().min(1, 'a title').max(200),
    body: plainText(5000).default(''),
    severity: IncidentSeverity.default('minor'),
    /** Default: now. */
    startedMs: epochMs.optional(),
    resolvedMs: epochMs.nullable().default(null),
  })
  .strict()
  .refine((s) => s.resolvedMs === null || s.startedMs === undefined || s.resolvedMs >= s.startedMs, {
    path: ['resolvedMs'],
    message: 'an incident cannot be resolved before it started',
  });
export type IncidentSpec = z.infer<typeof IncidentSpec>;
export type IncidentSpecInput = z.input<typeof IncidentSpec>;

/** `POST /api/status-pages/:id/incidents/:incident/updates`: a note, and whether it resolves the incident. */
export const IncidentNote = z
  .object({
    body: plainText(5000).trim().min(1, 'a note'),
    resolve: z.boolean().default(false),
  })
  .strict();
export type IncidentNote = z.infer<typeof IncidentNote>;

export const StatusPageParams = z.object({ id: z.string().min(1).max(200) });
export const IncidentParams = z.object({ id: z.string().min(1).max(200), incident: z.string().min(1).max(200) });
export const PublicStatusParams = z.object({ slug: z.string().min(1).max(200) });

// --- the public view: only what the page shows ------------------------------------------------

/** up: reporting / every location succeeds; down: not; degraded: some monitor locations fail; unknown: no data yet. */
export const PublicStatus = z.enum(PUBLIC_STATUSES);
export type PublicStatus = z.infer<typeof PublicStatus>;

export const PublicStatusItem = z.object({
  kind: z.enum(['host', 'monitor']),
  /** The display name chosen on the page, else the hostname or monitor name. */
  name: z.string(),
  status: PublicStatus,
  /** One per day, oldest first, the last being today (UTC days): the share of the day up, 0..1, or null without data. */
  days: z.array(z.number().nullable()),
  /** Over the days with data. */
  uptime: z.number().nullable(),
  /** Only with show_values: a monitor's latest mean latency; a host's CPU and memory use in percent. */
  latencyMs: z.number().nullable().optional(),
  cpuPercent: z.number().nullable().optional(),
  memoryPercent: z.number().nullable().optional(),
});
export type PublicStatusItem = z.infer<typeof PublicStatusItem>;

export const PublicIncident = Incident.omit({ id: true });
export type PublicIncident = z.infer<typeof PublicIncident>;

export const PublicStatusPage = z.object({
  title: z.string(),
  description: z.string(),
  language: StatusLanguage,
  /** Start (UTC midnight) of the first of the `days`. */
  firstDayMs: z.number(),
  /** When these figures were computed; the server keeps them for a minute. */
  generatedMs: z.number(),
  status: PublicStatus,
  items: z.array(PublicStatusItem),
  /** Incidents of the last 90 days, and any still open, newest first. */
  incidents: z.array(PublicIncident),
});
export type PublicStatusPage = z.infer<typeof PublicStatusPage>;
