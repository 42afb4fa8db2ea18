/**
 * What a form needs to know of each channel type's own settings, read from the zod shape its file
 * declares (channels/<type>.ts) through its JSON Schema: nested objects become dotted names
 * (`smtp.host`), as the type's `secrets` and `destination` lists name them.
 */
import type { ChannelField, ChannelFieldType, ChannelKind } from '@falconet/protocol/api';
import { z } from 'zod';
import type { ChannelDefinition } from './channels/channel.ts';
import { CHANNELS } from './channels/index.ts';

interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  additionalProperties?: JsonSchema | boolean;
  required?: string[];
  enum?: unknown[];
  anyOf?: JsonSchema[];
  description?: string;
  default?: unknown;
  items?: JsonSchema;
}

function fieldType(s: JsonSchema): ChannelFieldType {
  if (s.enum) return 'choice';
  if (s.anyOf) {
    // A string or a number (telegram's chat_id) is typed as text; the server reads either.
    const types = s.anyOf.map((x) => x.type);
    return types.every((t) => t === 'number' || t === 'integer') ? 'number' : 'string';
  }
  switch (s.type) {
    case 'boolean':
      return 'boolean';
    case 'number':
    case 'integer':
      return 'number';
    case 'array':
      return 'string_list';
    case 'object':
      return 'map';
    default:
      return 'string';
  }
}

function fieldsOf(def: ChannelDefinition, schema: JsonSchema, prefix: string, parentRequired: boolean): ChannelField[] {
  const required = new Set(schema.required ?? []);
  return Object.entries(schema.properties ?? {}).flatMap(([key, s]): ChannelField[] => {
    const name = prefix + key;
    if (s.type === 'object' && s.properties) return fieldsOf(def, s, `${name}.`, parentRequired && required.has(key));
    const type = fieldType(s);
    return [
      {
        name,
        type,
        required: parentRequired && required.has(key),
        secret: def.secrets.includes(name) || def.secrets.includes(`${name}.*`),
        destination: def.destination.includes(name),
        help: s.description ?? '',
        ...(type === 'choice' ? { options: (s.enum ?? []).map(String) } : {}),
        ...(s.default !== undefined ? { default: s.default } : {}),
      },
    ];
  });
}

/** One channel type's own settings, in the order its file declares them. */
export function channelKind(def: ChannelDefinition): ChannelKind {
  const schema = z.toJSONSchema(z.object(def.fields), { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  return { type: def.type, fields: fieldsOf(def, schema, '', true) };
}

/** Every channel type, as CHANNELS lists them; computed once, the shapes never change at run time. */
export const CHANNEL_KINDS: readonly ChannelKind[] = CHANNELS.map((c) => channelKind(c as ChannelDefinition));
