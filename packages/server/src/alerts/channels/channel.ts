/**
 * What a channel file declares, once, for everything else to read: its type name, its own
 * settings (a zod shape; spec.ts adds the settings every channel takes), which of them are
 * secrets, which decide where it sends, and its sender. index.ts lists the channel files.
 */
import type { ChannelCommonShape } from '@falconet/protocol/api';
import { z } from 'zod';
import type { ChannelSender } from './http.ts';

export const httpUrl = z
  .string()
  .max(2000)
  .refine((u) => {
    try {
      const p = new URL(u);
      return p.protocol === 'http:' || p.protocol === 'https:';
    } catch {
      return false;
    }
  }, 'must be an http:// or https:// URL');

/** How REST shows a stored secret (channel-secrets.ts); sent back, it stands for the stored value. */
export const MASKED_SECRET = '********';

/**
 * A secret with a shape to check (a key of so many characters, a topic name): the masked value
 * passes too, since an edit sends it back in place of the stored one, which was checked when set.
 */
export function secretMatching(pattern: RegExp, message: string) {
  return z
    .string()
    .max(1000)
    .refine((v) => v === MASKED_SECRET || pattern.test(v), message);
}

export interface SenderOptions {
  /** The channel's timeout, for senders that set their own (SMTP). */
  timeoutMs: number;
  now: () => number;
}

/** The whole of the settings of a channel of type T with its own fields F. */
export type ChannelSchema<T extends string, F extends z.ZodRawShape> = z.ZodObject<
  ChannelCommonShape & { type: z.ZodLiteral<T> } & F,
  z.core.$strict
>;

/** The settings of a channel of type T with its own fields F, as parsed. */
export type ChannelSettings<T extends string, F extends z.ZodRawShape> = z.output<ChannelSchema<T, F>>;

export interface ChannelDefinition<T extends string = string, F extends z.ZodRawShape = z.ZodRawShape> {
  /** `type:` in a channel's settings. */
  type: T;
  /** This type's own settings, beside the common ones. */
  fields: F;
  /**
   * Fields holding secrets, as a request body names them (`secret`, `smtp.password`; `headers.*`
   * for every value of a map): write-only over REST (channel-secrets.ts).
   */
  secrets: readonly string[];
  /** Fields that decide where messages, and so secrets, go: changing one needs the secrets entered again. */
  destination: readonly string[];
  sender(spec: ChannelSettings<T, F>, opts: SenderOptions): ChannelSender;
}

export function defineChannel<T extends string, F extends z.ZodRawShape>(
  def: Omit<ChannelDefinition<T, F>, 'secrets'> & { secrets?: readonly string[] },
): ChannelDefinition<T, F> {
  return { ...def, secrets: def.secrets ?? [] };
}
