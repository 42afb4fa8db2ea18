import type { Agent } from '@falconet/protocol/api';
import { useSyncExternalStore } from 'react';
import type { Translate } from '../i18n.tsx';
import type { AgentStore } from './store.ts';

/** The server keeps pushed hosts (Open-Falcon transfer, POST /api/v1/push) under `push:<host>`, an id no agent can take. */
const PUSH_PREFIX = 'push:';

export type HostSource = 'agent' | 'push';

export function hostSource(a: Agent): HostSource {
  return a.id.startsWith(PUSH_PREFIX) ? 'push' : 'agent';
}

/** What tells a host apart from another of the same name: the first 8 characters of an agent's id, a pushed host's whole id. */
export function shortId(a: Agent): string {
  return hostSource(a) === 'push' ? a.id : a.id.slice(0, 8);
}

/** `3f2a9c1e · agent`, `push:web-1 · pushed`: the words shown next to a name that two or more hosts share. */
export function identityText(t: Translate, a: Agent): string {
  return `${shortId(a)} · ${t(hostSource(a) === 'push' ? 'ident.push' : 'ident.agent')}`;
}

/** The hover text of the tag: the whole id and where its data comes from. */
export function identityTitle(t: Translate, a: Agent): string {
  return t(hostSource(a) === 'push' ? 'ident.pushTitle' : 'ident.agentTitle', a.id);
}

/**
 * Next to a host name that another host has too: its short id and source, so two `web-1`s can
 * be told apart. Nothing for a name only one host has.
 */
export function SameNameTag({ agent, store, t }: { agent: Agent; store: AgentStore; t: Translate }) {
  // The tag appears or goes when another host takes or leaves the name: the list's version says when.
  useSyncExternalStore(store.subscribeList, store.getVersion);
  if (!store.sharesName(agent)) return null;
  return (
    <span className="same-name" data-testid="same-name" title={identityTitle(t, agent)}>
      {identityText(t, agent)}
    </span>
  );
}
