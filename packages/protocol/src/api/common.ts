import { z } from 'zod';

/** A label set: names to values. */
export const Labels = z.record(z.string(), z.string());
export type Labels = z.infer<typeof Labels>;

/** `[timestampMs, value]`; null where a bucket has no value. */
export const Point = z.tuple([z.number(), z.number().nullable()]);
export type Point = z.infer<typeof Point>;

export const metricName = z.string().regex(/^[a-zA-Z_:][a-zA-Z0-9_:]*$/, 'must be a metric name');

/** A query-string timestamp: milliseconds since the epoch, or an ISO 8601 time. */
export const timeParam = z.union([z.string(), z.number()]).transform((v, ctx) => {
  // Date.parse alone is lenient (it reads "' OR '1'='1" as a year): only digits or an ISO 8601 date get that far.
  const n =
    typeof v === 'number'
      ? v
      : /^\d+$/.test(v)
        ? Number(v)
        : /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(v)
          ? Date.parse(v)
          : Number.NaN;
  if (!Number.isFinite(n)) {
    ctx.addIssue({ code: 'custom', message: `"${v}" is not a time (milliseconds since the epoch or ISO 8601)` });
    return z.NEVER;
  }
  return n;
});

/** A query parameter given once or repeated. */
export const oneOrMany = <T extends z.ZodType>(item: T, most?: number) =>
  z.union([item, most === undefined ? z.array(item) : z.array(item).max(most)]);

/** `?limit=&offset=` */
export const paging = (maxLimit: number, defaultLimit: number) => ({
  limit: z.coerce.number().int().min(1).max(maxLimit).default(defaultLimit),
  offset: z.coerce.number().int().min(0).default(0),
});

/** `{items: T[]}` */
export const itemsOf = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item) });
/** `{items: T[], total}`: one page and how many there are in all. */
export const pageOf = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item), total: z.number() });

/** A 204 answer. */
export const NoContent = z.null();
