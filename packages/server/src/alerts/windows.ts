/**
 * The recent window of every series some rule needs, in memory, fed from the ingest path. Rules
 * are evaluated over these, never by querying the store per rule. A metric name no rule names is
 * not kept; a name's series are kept only as far back as its longest rule window needs.
 */
import type { Labels, Sample } from '@falconet/protocol';
import type { WindowAggregation } from '@falconet/protocol/api';

/** Timestamped values in time order, growing at the end and trimmed at the front. */
export class PointRing {
  ts: Float64Array;
  vs: Float64Array;
  head = 0;
  end = 0;

  constructor(capacity = 8) {
    this.ts = new Float64Array(capacity);
    this.vs = new Float64Array(capacity);
  }

  get length(): number {
    return this.end - this.head;
  }

  get lastT(): number {
    return this.end > this.head ? (this.ts[this.end - 1] as number) : Number.NEGATIVE_INFINITY;
  }

  get lastV(): number {
    return this.end > this.head ? (this.vs[this.end - 1] as number) : Number.NaN;
  }

  get firstT(): number {
    return this.end > this.head ? (this.ts[this.head] as number) : Number.POSITIVE_INFINITY;
  }

  push(t: number, v: number): void {
    if (this.end === this.ts.length) this.#grow();
    this.ts[this.end] = t;
    this.vs[this.end] = v;
    this.end++;
  }

  /** Overwrites the newest value (a later sample in the same bucket). */
  replaceLast(t: number, v: number): void {
    this.ts[this.end - 1] = t;
    this.vs[this.end - 1] = v;
  }

  /** Drops points older than `fromT`, always keeping the newest. */
  trimBefore(fromT: number): void {
    while (this.end - this.head > 1 && (this.ts[this.head] as number) < fromT) this.head++;
  }

  /** Puts older points (in time order, all before the first held) in front: warming from the store. */
  prepend(points: readonly [number, number][]): void {
    const older = points.filter(([t]) => t < this.firstT);
    if (older.length === 0) return;
    const n = this.length + older.length;
    const ts = new Float64Array(Math.max(8, n * 2));
    const vs = new Float64Array(ts.length);
    older.forEach(([t, v], i) => {
      ts[i] = t;
      vs[i] = v;
    });
    ts.set(this.ts.subarray(this.head, this.end), older.length);
    vs.set(this.vs.subarray(this.head, this.end), older.length);
    this.ts = ts;
    this.vs = vs;
    this.head = 0;
    this.end = n;
  }

  #grow(): void {
    const n = this.length;
    if (this.head >= this.ts.length / 2) {
      // Half or more was trimmed at the front: slide down instead of growing.
      this.ts.copyWithin(0, this.head, this.end);
      this.vs.copyWithin(0, this.head, this.end);
    } else {
      const ts = new Float64Array(this.ts.length * 2);
      const vs = new Float64Array(this.ts.length * 2);
      ts.set(this.ts.subarray(this.head, this.end));
      vs.set(this.vs.subarray(this.head, this.end));
      this.ts = ts;
      this.vs = vs;
    }
    this.head = 0;
    this.end = n;
  }
}

/** One series (agent, name, labels): its recent points and, for trend rules, a coarse long history. */
export class SeriesWindow {
  readonly key: string;
  readonly agentId: string;
  readonly name: string;
  readonly labels: Labels;
  readonly labelCount: number;
  /** Its index in its name's list. */
  slot = 0;
  readonly recent = new PointRing();
  /** One point per bucket (the bucket's last value) over a long span, for linear fits. */
  long: PointRing | undefined;
  /** Server time of the last sample: staleness is judged by the server's clock, not the agent's. */
  receivedMs = 0;
  /**
   * Server time of the first sample since the evaluation cycle `epoch` began. A condition first
   * seen by the next cycle began no earlier than this, so for-durations count from here.
   */
  firstReceivedMs = 0;
  epoch = -1;
  /** The rules whose selectors take this series; kept by the evaluator's index. */
  rules: unknown[] = [];
  rulesVersion = -1;
  agentVersion = -1;
  /** The last linear fit, reused by every disk_full rule with the same lookback in one cycle. */
  fitCache: { cycle: number; lookbackMs: number; fit: ReturnType<typeof linearFit> } | undefined;

  constructor(key: string, agentId: string, name: string, labels: Labels) {
    this.key = key;
    this.agentId = agentId;
    this.name = name;
    this.labels = labels;
    this.labelCount = Object.keys(labels).length;
  }

  add(t: number, v: number, retainMs: number, longBucketMs: number, longRetainMs: number): void {
    const r = this.recent;
    const last = r.lastT;
    if (t < last) return;
    if (t === last) r.replaceLast(t, v);
    else r.push(t, v);
    r.trimBefore(t - retainMs);
    if (longBucketMs > 0) {
      this.long ??= new PointRing();
      const l = this.long;
      if (l.length > 0 && Math.floor(l.lastT / longBucketMs) === Math.floor(t / longBucketMs)) l.replaceLast(t, v);
      else if (t > l.lastT) l.push(t, v);
      l.trimBefore(t - longRetainMs);
    }
  }

  /**
   * The aggregate over (latest - windowMs, latest]. A window with no point but the latest one
   * (a window shorter than the report interval) is that point; rate, increase and delta need two.
   */
  aggregate(agg: WindowAggregation, windowMs: number): number {
    const r = this.recent;
    const n = r.end - r.head;
    if (n === 0) return Number.NaN;
    const ts = r.ts;
    const vs = r.vs;
    const end = r.end;
    const last = end - 1;
    const from = (ts[last] as number) - windowMs;
    let start = last;
    while (start > r.head && (ts[start - 1] as number) > from) start--;
    switch (agg) {
      case 'last':
        return vs[last] as number;
      case 'avg':
      case 'sum': {
        let s = 0;
        for (let i = start; i < end; i++) s += vs[i] as number;
        return agg === 'sum' ? s : s / (end - start);
      }
      case 'min': {
        let m = Number.POSITIVE_INFINITY;
        for (let i = start; i < end; i++) if ((vs[i] as number) < m) m = vs[i] as number;
        return m;
      }
      case 'max': {
        let m = Number.NEGATIVE_INFINITY;
        for (let i = start; i < end; i++) if ((vs[i] as number) > m) m = vs[i] as number;
        return m;
      }
      case 'count':
        return end - start;
      case 'delta':
        return end - start < 2 ? Number.NaN : (vs[last] as number) - (vs[start] as number);
      case 'increase':
      case 'rate': {
        if (end - start < 2) return Number.NaN;
        let inc = 0;
        for (let i = start + 1; i < end; i++) {
          const d = (vs[i] as number) - (vs[i - 1] as number);
          // A counter that went down was reset; what it counted since is its whole value.
          inc += d >= 0 ? d : (vs[i] as number);
        }
        if (agg === 'increase') return inc;
        const secs = ((ts[last] as number) - (ts[start] as number)) / 1000;
        return secs > 0 ? inc / secs : Number.NaN;
      }
    }
  }
}

/** Least squares over the long history within `lookbackMs`: slope per ms and the value fitted at the latest time. */
export function linearFit(ring: PointRing, lookbackMs: number): { slope: number; at: number; span: number; points: number } | undefined {
  const end = ring.end;
  if (end - ring.head < 2) return undefined;
  const t0 = ring.ts[end - 1] as number;
  let i = ring.head;
  while (i < end && (ring.ts[i] as number) < t0 - lookbackMs) i++;
  const n = end - i;
  if (n < 2) return undefined;
  let sx = 0;
  let sy = 0;
  let sxx = 0;
  let sxy = 0;
  for (let k = i; k < end; k++) {
    // Times relative to the latest keep the sums well conditioned.
    const x = ((ring.ts[k] as number) - t0) / 1000;
    const y = ring.vs[k] as number;
    sx += x;
    sy += y;
    sxx += x * x;
    sxy += x * y;
  }
  const den = n * sxx - sx * sx;
  if (den === 0) return undefined;
  const slopePerS = (n * sxy - sx * sy) / den;
  const intercept = (sy - slopePerS * sx) / n;
  return { slope: slopePerS / 1000, at: intercept, span: t0 - (ring.ts[i] as number), points: n };
}

/** How long a metric's series are kept, and which of them (null = all). */
export interface NameInterest {
  retainMs: number;
  /** Bucket width of the long history; 0 = none. */
  longBucketMs: number;
  longRetainMs: number;
  /** Keep a series only when one of these matcher sets takes its labels; null keeps every series. */
  accept: ((labels: Labels) => boolean) | null;
}

/** One agent's series of one name: few, so found by comparing labels; many, by a key. */
class AgentSeries {
  readonly list: SeriesWindow[] = [];
  byKey: Map<string, SeriesWindow> | undefined;

  find(labels: Labels): SeriesWindow | undefined {
    if (this.byKey) return this.byKey.get(seriesKey('', labels));
    for (const sw of this.list) if (sameLabels(sw.labels, sw.labelCount, labels)) return sw;
    return undefined;
  }

  add(sw: SeriesWindow): void {
    this.list.push(sw);
    if (this.byKey) this.byKey.set(seriesKey('', sw.labels), sw);
    // Past a handful, comparing labels one series at a time costs more than building a key.
    else if (this.list.length > 8) this.byKey = new Map(this.list.map((x) => [seriesKey('', x.labels), x]));
  }

  remove(sw: SeriesWindow): void {
    const i = this.list.indexOf(sw);
    if (i >= 0) this.list.splice(i, 1);
    this.byKey?.delete(seriesKey('', sw.labels));
  }
}

/** Equal label sets, without allocating: the report's fresh label objects are compared by value. */
function sameLabels(a: Labels, aCount: number, b: Labels): boolean {
  let n = 0;
  for (const k in b) {
    if (a[k] !== b[k]) return false;
    n++;
  }
  return n === aCount;
}

export class NameWindows {
  readonly name: string;
  interest: NameInterest;
  /** Every series of the name, for the evaluator's pass; `slot` is each one's index. */
  readonly list: SeriesWindow[] = [];
  readonly byAgent = new Map<string, AgentSeries>();

  constructor(name: string, interest: NameInterest) {
    this.name = name;
    this.interest = interest;
  }

  get size(): number {
    return this.list.length;
  }

  /** The agent's series of this name. */
  ofAgent(agentId: string): readonly SeriesWindow[] {
    return this.byAgent.get(agentId)?.list ?? [];
  }

  find(agentId: string, labels: Labels): SeriesWindow | undefined {
    return this.byAgent.get(agentId)?.find(labels);
  }

  add(sw: SeriesWindow): void {
    sw.slot = this.list.length;
    this.list.push(sw);
    let a = this.byAgent.get(sw.agentId);
    if (!a) {
      a = new AgentSeries();
      this.byAgent.set(sw.agentId, a);
    }
    a.add(sw);
  }

  remove(sw: SeriesWindow): void {
    // Swap with the last: removal costs no shifting.
    const last = this.list.pop();
    if (last && last !== sw) {
      this.list[sw.slot] = last;
      last.slot = sw.slot;
    }
    const a = this.byAgent.get(sw.agentId);
    if (!a) return;
    a.remove(sw);
    if (a.list.length === 0) this.byAgent.delete(sw.agentId);
  }
}

export function seriesKey(agentId: string, labels: Labels): string {
  let k = agentId;
  let prev = '';
  let sorted = true;
  for (const name in labels) {
    if (name < prev) {
      sorted = false;
      break;
    }
    prev = name;
    k += `\u0001${name}=${labels[name]}`;
  }
  if (sorted) return k;
  // Collectors send their labels in one order; anything else is put in order first.
  k = agentId;
  for (const name of Object.keys(labels).sort()) k += `\u0001${name}=${labels[name]}`;
  return k;
}

export class SeriesWindows {
  readonly #names = new Map<string, NameWindows>();
  /** The evaluation cycle samples now arriving belong to (see SeriesWindow.firstReceivedMs). */
  epoch = 0;
  #count = 0;

  get seriesCount(): number {
    return this.#count;
  }

  get names(): IterableIterator<NameWindows> {
    return this.#names.values();
  }

  byName(name: string): NameWindows | undefined {
    return this.#names.get(name);
  }

  /** Sets which names are kept and how; names left out are dropped with their series. */
  setInterest(interests: ReadonlyMap<string, NameInterest>): void {
    for (const [name, nw] of this.#names) {
      if (!interests.has(name)) {
        this.#count -= nw.size;
        this.#names.delete(name);
      }
    }
    for (const [name, interest] of interests) {
      const nw = this.#names.get(name);
      if (!nw) {
        this.#names.set(name, new NameWindows(name, interest));
        continue;
      }
      const acceptChanged = nw.interest.accept !== interest.accept;
      nw.interest = interest;
      if (acceptChanged) {
        if (interest.accept) {
          for (const sw of [...nw.list]) {
            if (!interest.accept(sw.labels)) {
              nw.remove(sw);
              this.#count--;
            }
          }
        }
      }
    }
  }

  /** Drops every series window of the agent (forgotten by an admin). */
  forgetAgent(agentId: string): void {
    for (const nw of this.#names.values()) {
      for (const sw of [...nw.ofAgent(agentId)]) {
        nw.remove(sw);
        this.#count--;
      }
    }
  }

  /** The ingest hook: one report's samples, after they are durable. */
  observe(agentId: string, samples: readonly Sample[], nowMs = Date.now()): void {
    for (const s of samples) {
      const nw = this.#names.get(s.name);
      if (!nw) continue;
      // Testing a few matchers costs less than building the key of a series to be turned away.
      if (nw.interest.accept && !nw.interest.accept(s.labels)) continue;
      let sw = nw.find(agentId, s.labels);
      if (!sw) {
        sw = new SeriesWindow(seriesKey(agentId, s.labels), agentId, s.name, s.labels);
        nw.add(sw);
        this.#count++;
      }
      if (!Number.isFinite(s.value)) continue;
      const i = nw.interest;
      sw.add(s.timestampMs, s.value, i.retainMs, i.longBucketMs, i.longRetainMs);
      sw.receivedMs = nowMs;
      if (sw.epoch !== this.epoch) {
        sw.epoch = this.epoch;
        sw.firstReceivedMs = nowMs;
      }
    }
  }

  /**
   * Adds a series' history from the store, older than what ingest already brought: raw points for
   * the recent window, or one point per bucket for the long history.
   */
  warm(
    agentId: string,
    name: string,
    labels: Labels,
    points: readonly [number, number][],
    tier: 'recent' | 'long',
    nowMs = Date.now(),
  ): void {
    const nw = this.#names.get(name);
    const finite = points.filter(([, v]) => Number.isFinite(v));
    if (!nw || finite.length === 0) return;
    const i = nw.interest;
    if (tier === 'long' && i.longBucketMs <= 0) return;
    if (i.accept && !i.accept(labels)) return;
    let sw = nw.find(agentId, labels);
    const fresh = !sw;
    if (!sw) {
      sw = new SeriesWindow(seriesKey(agentId, labels), agentId, name, labels);
      nw.add(sw);
      this.#count++;
    }
    const latest = (finite.at(-1) as [number, number])[0];
    if (tier === 'recent') sw.recent.prepend(finite.filter(([t]) => t > latest - i.retainMs));
    else {
      sw.long ??= new PointRing();
      sw.long.prepend(finite.filter(([t]) => t > latest - i.longRetainMs));
    }
    // Judged by when the store last heard of it, so an agent long gone does not look fresh.
    if (fresh) sw.receivedMs = Math.min(nowMs, latest);
  }

  /** Drops series not heard from for `idleMs`. */
  gc(nowMs: number, idleMs: number): number {
    let dropped = 0;
    for (const nw of this.#names.values()) {
      for (const sw of [...nw.list]) {
        if (nowMs - sw.receivedMs > idleMs) {
          nw.remove(sw);
          dropped++;
        }
      }
    }
    this.#count -= dropped;
    return dropped;
  }
}
