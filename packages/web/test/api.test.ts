import { describe, expect, it } from 'vitest';
import { firstAgents, prefetchAgents } from '../src/api.ts';
import { agent } from './agents.ts';
import { stubFetch } from './fetch-stub.ts';

describe('the fleet read as the page loads', () => {
  it('is taken once by the first reader; a later reader asks again', async () => {
    const server = stubFetch({ 'GET /api/agents': { body: { items: [agent('a1')], total: 1 } } });
    prefetchAgents();
    expect(server.to('GET /api/agents')).toHaveLength(1);
    expect((await firstAgents()).items.map((a) => a.id)).toEqual(['a1']);
    expect(server.to('GET /api/agents')).toHaveLength(1);
    await firstAgents();
    expect(server.to('GET /api/agents')).toHaveLength(2);
  });

  it('read before signing in (refused) is read again for the first reader after it', async () => {
    let signedIn = false;
    const server = stubFetch({
      'GET /api/agents': () =>
        signedIn
          ? { body: { items: [agent('a1')], total: 1 } }
          : { status: 401, body: { error: { code: 'unauthenticated', message: 'sign in' } } },
    });
    prefetchAgents();
    signedIn = true;
    expect((await firstAgents()).total).toBe(1);
    expect(server.to('GET /api/agents')).toHaveLength(2);
  });
});
