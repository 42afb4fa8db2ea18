import type { Labels, Sample } from '@falconet/protocol';
import type { MetricFamily, MetricType } from '@falconet/protocol/exposition';

export type { MetricFamily, MetricType };

/** What a collector writes into; keeps each family together however the collector orders its calls. */
export class MetricWriter {
  readonly #families = new Map<string, MetricFamily>();

  gauge(name: string, help: string, value: number, labels: Labels = {}): void {
    this.add(name, help, 'gauge', value, labels);
  }

  counter(name: string, help: string, value: number, labels: Labels = {}): void {
    this.add(name, help, 'counter', value, labels);
  }

  untyped(name: string, help: string, value: number, labels: Labels = {}): void {
    this.add(name, help, 'untyped', value, labels);
  }

  add(name: string, help: string, type: MetricType, value: number, labels: Labels): void {
    let family = this.#families.get(name);
    if (!family) {
      family = { name, help, type, metrics: [] };
      this.#families.set(name, family);
    }
    family.metrics.push({ labels, value });
  }

  /** Adds a whole family (a parsed text file); metrics join an existing family of the same name. */
  addFamily(f: MetricFamily): void {
    const family = this.#families.get(f.name);
    if (family) family.metrics.push(...f.metrics);
    else this.#families.set(f.name, { ...f, metrics: [...f.metrics] });
  }

  has(name: string): MetricFamily | undefined {
    return this.#families.get(name);
  }

  families(): MetricFamily[] {
    return [...this.#families.values()];
  }
}

/** Flattens families into samples stamped with one collection time. */
export function familiesToSamples(families: readonly MetricFamily[], timestampMs: number): Sample[] {
  const out: Sample[] = [];
  for (const f of families) {
    for (const m of f.metrics) out.push({ name: m.suffix ? f.name + m.suffix : f.name, labels: m.labels, value: m.value, timestampMs });
  }
  return out;
}
