/**
 * The key of a series inside its agent, as both engines store it: the name, then each label as
 * \0 name \1 value, sorted by label name.
 */
import type { Labels } from '@falconet/protocol';

export function localKey(name: string, labels: Labels): string {
  let key = name;
  let prev = '';
  let sorted = true;
  for (const k in labels) {
    if (k < prev) {
      sorted = false;
      break;
    }
    prev = k;
    key += `\0${k}\x01${labels[k]}`;
  }
  if (sorted) return key;
  key = name;
  for (const k of Object.keys(labels).sort()) key += `\0${k}\x01${labels[k]}`;
  return key;
}

export function parseLocalKey(key: string): { name: string; labels: Record<string, string> } {
  const parts = key.split('\0');
  const labels: Record<string, string> = {};
  for (let i = 1; i < parts.length; i++) {
    const p = parts[i] as string;
    const sep = p.indexOf('\x01');
    labels[p.slice(0, sep)] = p.slice(sep + 1);
  }
  return { name: parts[0] as string, labels };
}
