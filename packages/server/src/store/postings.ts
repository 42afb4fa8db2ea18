/**
 * The cross-host series index: label name -> value -> the ids of the series carrying that pair, the
 * metric name under `__name__`. A selector's equality matchers intersect these lists, so
 * `node_cpu_seconds_total{instance="x",mode!="idle"}` looks at the few series of host x, not at
 * every host's series of the metric. Engine-neutral: an engine hands its series ids to `add`.
 */
import type { LabelTest, SelectQuery } from './types.ts';

export class SeriesPostings {
  readonly #lists = new Map<string, Map<string, IdList>>();

  /** Indexes series `id`: its name, and each of its labels. */
  add(id: number, name: string, labels: Readonly<Record<string, string>>): void {
    this.#push('__name__', name, id);
    for (const k in labels) this.#push(k, labels[k] as string, id);
  }

  #push(label: string, value: string, id: number): void {
    let byValue = this.#lists.get(label);
    if (!byValue) {
      byValue = new Map();
      this.#lists.set(label, byValue);
    }
    let list = byValue.get(value);
    if (!list) {
      list = new IdList(1);
      byValue.set(value, list);
    }
    list.push(id);
  }

  /** Ids carrying label = value, ascending (deleted series included: the caller skips them). A view: copy before keeping it. */
  get(label: string, value: string): Uint32Array {
    return this.#lists.get(label)?.get(value)?.sorted() ?? EMPTY;
  }

  /** The values a label has, for a regular expression matcher to pick from. */
  values(label: string): Iterable<string> {
    return this.#lists.get(label)?.keys() ?? [];
  }
}

const EMPTY = new Uint32Array(0);

/**
 * A growing list of series ids in a typed array: 4 bytes an id and one object for the collector to
 * trace however long it gets, where a plain array holds 8 bytes an id.
 */
export class IdList {
  #ids: Uint32Array;
  #n = 0;
  /** Whether an id came below the last one (ids not handed out in order), so a sort is due. */
  #unsorted = false;

  constructor(capacity = 4) {
    this.#ids = new Uint32Array(capacity);
  }

  get length(): number {
    return this.#n;
  }

  push(id: number): void {
    if (this.#n === this.#ids.length) {
      const next = new Uint32Array(Math.max(4, this.#ids.length * 2));
      next.set(this.#ids);
      this.#ids = next;
    }
    if (this.#n > 0 && id < (this.#ids[this.#n - 1] as number)) this.#unsorted = true;
    this.#ids[this.#n++] = id;
  }

  /** Keeps the ids `keep` says yes to, in order. */
  retain(keep: (id: number) => boolean): void {
    let n = 0;
    for (let i = 0; i < this.#n; i++) {
      const id = this.#ids[i] as number;
      if (keep(id)) this.#ids[n++] = id;
    }
    this.#n = n;
  }

  /** The ids in insertion order: a view of the list, valid until the next push. */
  view(): Uint32Array {
    return this.#ids.subarray(0, this.#n);
  }

  /** The ids ascending: a view, valid until the next push. */
  sorted(): Uint32Array {
    const v = this.view();
    if (this.#unsorted) {
      v.sort();
      this.#unsorted = false;
    }
    return v;
  }
}

/** Ids in both ascending lists. */
export function intersect(a: ArrayLike<number>, b: ArrayLike<number>): number[] {
  const out: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a[i] as number;
    const y = b[j] as number;
    if (x === y) {
      out.push(x);
      i++;
      j++;
    } else if (x < y) i++;
    else j++;
  }
  return out;
}

/** Ids in any of the ascending lists, ascending, each once. */
export function union(lists: readonly ArrayLike<number>[]): number[] {
  if (lists.length === 1) return Array.from(lists[0] as ArrayLike<number>);
  const all: number[] = [];
  for (const l of lists) for (let i = 0; i < l.length; i++) all.push(l[i] as number);
  all.sort((a, b) => a - b);
  let n = 0;
  for (let i = 0; i < all.length; i++) if (i === 0 || all[i] !== all[n - 1]) all[n++] = all[i] as number;
  all.length = n;
  return all;
}

/** What selection needs of an engine's series dictionary. */
export interface IndexedSeries {
  postings: SeriesPostings;
  /** Every live id, for a selector no index narrows. */
  allIds(): ArrayLike<number>;
  /** The ids of one agent's series. */
  idsOfAgent(agentId: string): ArrayLike<number>;
  isLive(id: number): boolean;
  agentOfId(id: number): string;
  nameOf(id: number): string;
  /** The series' own labels (shared: not to be changed). */
  labelsView(id: number): Readonly<Record<string, string>>;
}

/** A regular expression matcher that lists its values, e.g. `mode=~"user|system"`: the values, else undefined. */
function literalAlternatives(m: LabelTest): string[] | undefined {
  if (m.op !== '=~' || !/^[A-Za-z0-9_:\-/ ]+(\|[A-Za-z0-9_:\-/ ]+)*$/.test(m.value)) return undefined;
  return m.value.split('|');
}

/**
 * The ids of the series every matcher of `q` holds for, ascending. Equality matchers (and regular
 * expressions over `__name__` or listing literal values) pick candidates from the postings; every
 * matcher is then checked on each candidate, a label the series lacks read from its agent's defaults.
 */
export function selectIds(index: IndexedSeries, q: SelectQuery): number[] {
  const defaults = q.defaults;
  let candidates: number[] | undefined;
  const narrow = (list: ArrayLike<number>) => {
    candidates = candidates === undefined ? Array.from(list) : intersect(candidates, list);
  };
  for (const m of q.matchers) {
    if (candidates?.length === 0) return [];
    let values: string[] | undefined;
    if (m.op === '=' && m.value !== '') values = [m.value];
    else if (m.name === '__name__' && (m.op === '=~' || m.op === '!~')) {
      values = [];
      for (const v of index.postings.values('__name__')) if (m.test(v)) values.push(v);
    } else values = literalAlternatives(m);
    if (!values) continue;
    if (values.some((v) => v === '')) continue;
    const lists: ArrayLike<number>[] = values.map((v) => index.postings.get(m.name, v));
    // An agent's default (instance, job) stands for the label on every series of it that lacks one.
    if (defaults && m.name !== '__name__') {
      for (const [agentId, labels] of defaults) {
        const d = labels[m.name];
        if (d !== undefined && values.includes(d)) lists.push(index.idsOfAgent(agentId));
      }
    }
    narrow(lists.length === 1 ? (lists[0] as ArrayLike<number>) : union(lists));
  }
  const ids = candidates ?? index.allIds();
  const out: number[] = [];
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i] as number;
    if (!index.isLive(id)) continue;
    const labels = index.labelsView(id);
    const own = defaults?.get(index.agentOfId(id));
    let ok = true;
    for (const m of q.matchers) {
      const v = m.name === '__name__' ? index.nameOf(id) : (labels[m.name] ?? own?.[m.name]);
      if (!m.test(v)) {
        ok = false;
        break;
      }
    }
    if (ok) out.push(id);
  }
  return out;
}
