import type { MetricType } from '../../metrics.ts';

/** One value parsed from a plugin's output, before the plugin's own labels are added. */
export interface ParsedSample {
  name: string;
  labels: Record<string, string>;
  value: number;
  type?: MetricType | undefined;
  help?: string | undefined;
}

/** A problem in a plugin's output, naming the line it is on. */
export class OutputError extends Error {
  override name = 'OutputError';
  constructor(line: number, message: string) {
    super(`line ${line}: ${message}`);
  }
}

const INVALID_NAME_CHARS = /[^a-zA-Z0-9_:]/g;

/** A Prometheus-safe metric name from free text: invalid characters become `_`. */
export function sanitizeMetricName(raw: string): string {
  const s = raw.replace(INVALID_NAME_CHARS, '_');
  return /^[0-9]/.test(s) ? `_${s}` : s;
}

/** A Prometheus-safe label name from free text. */
export function sanitizeLabelName(raw: string): string {
  const s = raw.replace(/[^a-zA-Z0-9_]/g, '_');
  return /^[0-9]/.test(s) || s === '' ? `_${s}` : s;
}
