/**
 * The embedded store's series dictionary on its own: its typed-array table from (agent, key) to id
 * against a plain Map kept beside it, through definitions, agents forgotten at random (deletions
 * inside probe runs), growth past several rehashes, and the lists by name and by agent.
 */
import { describe, expect, it } from 'vitest';
import { SeriesDictionary } from '../src/store/embedded/series.ts';
import { localKey } from '../src/store/series-key.ts';

/** A small deterministic generator, so a failure repeats. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1_664_525) + 1_013_904_223) >>> 0;
    return s / 2 ** 32;
  };
}

const keyOf = (metric: number, cpu: number) => localKey(`m${metric}`, { cpu: String(cpu), mode: cpu % 2 ? 'user' : 'idle' });

describe('series dictionary', () => {
  it('finds every live series and none of the forgotten, through deletions and rehashes', () => {
    const dict = new SeriesDictionary();
    const model = new Map<string, number>();
    const forgottenBelow = new Map<string, number>();
    const rnd = random(7);
    const agents = 300;
    for (let round = 0; round < 4; round++) {
      for (let a = 0; a < agents; a++) {
        const agent = `agent-${a}`;
        for (let m = 0; m < 20; m++) {
          const key = keyOf(m, a % 4);
          const mk = `${agent}|${key}`;
          if (dict.get(agent, key) !== undefined) continue;
          const id = dict.size;
          dict.define(id, agent, key);
          model.set(mk, id);
        }
      }
      // Forget a third of the agents: their entries leave the middle of probe runs.
      for (let a = 0; a < agents; a++) {
        if (rnd() > 0.33) continue;
        const agent = `agent-${a}`;
        const bound = dict.size;
        const expected = [...model].filter(([k, id]) => k.startsWith(`${agent}|`) && id < bound).length;
        expect(dict.forget(agent, bound)).toBe(expected);
        for (const k of [...model.keys()]) if (k.startsWith(`${agent}|`)) model.delete(k);
        forgottenBelow.set(agent, bound);
      }
      for (let a = 0; a < agents; a++) {
        const agent = `agent-${a}`;
        for (let m = 0; m < 20; m++) {
          const key = keyOf(m, a % 4);
          expect(dict.get(agent, key)).toBe(model.get(`${agent}|${key}`));
        }
      }
      expect(dict.live).toBe(model.size);
    }
    // Every live id carries its agent, name and labels.
    for (const [mk, id] of model) {
      const [agent, key] = mk.split('|') as [string, string];
      expect(dict.agentOfId(id)).toBe(agent);
      expect(dict.keyOf(id)).toBe(key);
      expect(dict.isLive(id)).toBe(true);
    }
    const agent = [...model.keys()][0]?.split('|')[0] as string;
    const mine = [...model].filter(([k]) => k.startsWith(`${agent}|`)).map(([, id]) => id);
    expect([...dict.idsOfAgent(agent)]).toEqual(mine.sort((x, y) => x - y));
    expect(dict.ofName('m3').length).toBe([...model.keys()].filter((k) => k.includes('|m3\0')).length);
    expect(dict.ofName('m3', [agent]).map((id) => dict.agentOfId(id))).toEqual([agent]);
    expect(dict.allIds().length).toBe(model.size);
  });

  it('lists a name only while a live series has it, for all agents and for one', () => {
    const dict = new SeriesDictionary();
    dict.define(0, 'a', localKey('up', {}));
    dict.define(1, 'b', localKey('up', {}));
    dict.define(2, 'b', localKey('load1', {}));
    expect(dict.names()).toEqual(['load1', 'up']);
    expect(dict.names('a')).toEqual(['up']);
    expect(dict.forget('b', 3)).toBe(2);
    expect(dict.names()).toEqual(['up']);
    expect(dict.names('b')).toEqual([]);
    expect(dict.ofName('load1')).toEqual([]);
    // A later sample of the same metric starts a new series.
    expect(dict.get('b', localKey('up', {}))).toBeUndefined();
    dict.define(3, 'b', localKey('up', {}));
    expect(dict.get('b', localKey('up', {}))).toBe(3);
    expect(dict.ofName('up')).toEqual([0, 3]);
  });

  it('keeps definitions below a forgotten bound dead when loading them again', () => {
    const dict = new SeriesDictionary();
    dict.setForgotten({ a: 2 });
    dict.define(0, 'a', localKey('up', {}));
    dict.define(1, 'a', localKey('load1', {}));
    dict.define(2, 'a', localKey('up', {}));
    expect(dict.get('a', localKey('up', {}))).toBe(2);
    expect(dict.get('a', localKey('load1', {}))).toBeUndefined();
    expect(dict.live).toBe(1);
    expect(dict.names('a')).toEqual(['up']);
  });
});
