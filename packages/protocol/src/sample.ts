/** Label set of a series; names follow the Prometheus rules. */
export type Labels = Readonly<Record<string, string>>;

/** One point of one series: (name, labels, value, timestamp_ms), the Prometheus model. */
export interface Sample {
  name: string;
  labels: Labels;
  value: number;
  timestampMs: number;
}

/** Canonical identity of a series: name plus labels sorted by name. */
export function seriesKey(name: string, labels: Labels): string {
  const keys = Object.keys(labels);
  if (keys.length === 0) return name;
  keys.sort();
  let out = `${name}{`;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i] as string;
    out += `${i ? ',' : ''}${k}=${JSON.stringify(labels[k])}`;
  }
  return `${out}}`;
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export function isValidMetricName(name: string): boolean {
  return METRIC_NAME.test(name);
}

export function isValidLabelName(name: string): boolean {
  return LABEL_NAME.test(name) && !name.startsWith('__');
}

/**
 * Sets a label (or a log field) as an own property. A plain `labels[name] = value` with the name
 * "__proto__" sets the object's prototype instead and the value is lost; decoders of outside input
 * go through this.
 */
export function setOwn(labels: Record<string, string>, name: string, value: string): void {
  if (name === '__proto__') Object.defineProperty(labels, name, { value, enumerable: true, writable: true, configurable: true });
  else labels[name] = value;
}
