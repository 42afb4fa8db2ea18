import { duration } from '@falconet/protocol/config';
import { z } from 'zod';

/*
 * The kit a collector's `options` declaration is built with, apart from options.ts (which gathers
 * the declarations from the registry), so the registry and the collectors can name its type
 * without an import circle.
 */

/** A regular expression given as text; validated here so a typo is reported with the config's location. */
const pattern = () =>
  z.string().superRefine((v, ctx) => {
    try {
      new RegExp(v);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `not a valid regular expression: ${(err as Error).message}` });
    }
  });

/** device_include / device_exclude, as node_exporter's mutually exclusive device filter flags. */
const deviceFilterOptions = (excludeDefault: string) =>
  z
    .object({ device_include: pattern().default(''), device_exclude: pattern().default(excludeDefault) })
    .strict()
    .refine((o) => !(o.device_include && o.device_exclude !== excludeDefault && o.device_exclude), {
      message: 'device_include and device_exclude are mutually exclusive; set only one',
    })
    .transform((o) => (o.device_include ? { ...o, device_exclude: '' } : o));

/** What a collector's `options` declaration is handed: zod, and the option types collectors share. */
export const optionKit = { z, pattern, duration, deviceFilterOptions };
export type OptionKit = typeof optionKit;
