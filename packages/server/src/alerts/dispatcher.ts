/**
 * The AlertDispatcher turns alert transitions into notifications the way Alertmanager does: alerts
 * are grouped per channel by the rule's group_by labels; a new group waits group_wait to gather
 * its peers, then sends once; later changes go out at most every group_interval; a group still
 * firing is repeated every repeat_interval; resolved alerts go out as recovery notices. Silenced
 * alerts are held back, and sent if still firing when their silence ends.
 */
import type { Logger } from 'pino';
import { timeOrderedId } from '../auth/ids.ts';
import type { ChannelRuntime, DeliveryQueue, DeliveryRecord } from './delivery.ts';
import type { AlertTransition } from './evaluator.ts';
import { buildNotification, describeAlert, type Notification } from './notification.ts';
import type { AlertInstance, CompiledRule } from './rule.ts';
import type { SilenceSet } from './silences.ts';

interface GroupedAlert {
  rule: CompiledRule;
  alert: AlertInstance;
  status: 'firing' | 'resolved';
  resolvedAtMs: number;
  details: Record<string, number> | undefined;
  /** Its firing was sent on this group's channel. */
  notified: boolean;
}

interface Group {
  key: string;
  channel: string;
  labels: Record<string, string>;
  alerts: Map<string, GroupedAlert>;
  /** When the oldest alert not yet sent arrived; 0 when everything was sent. */
  unsentSinceMs: number;
  lastSentMs: number;
  waitMs: number;
  intervalMs: number;
  repeatMs: number;
}

export interface DispatcherDeps {
  channel(name: string): ChannelRuntime | undefined;
  queue: DeliveryQueue;
  silences(): SilenceSet;
  defaultChannels(): readonly string[];
  externalUrl: () => string;
  log: Logger;
  now?: () => number;
  /** Told when an alert's firing went out, so a restart does not send it again. */
  onNotified?: (alert: AlertInstance, atMs: number) => void;
}

export interface GroupView {
  channel: string;
  key: string;
  labels: Record<string, string>;
  firing: number;
  resolved: number;
  lastSentMs: number;
}

export class AlertDispatcher {
  readonly #deps: DispatcherDeps;
  readonly #now: () => number;
  readonly #groups = new Map<string, Group>();

  constructor(deps: DispatcherDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? Date.now;
  }

  channelsOf(rule: CompiledRule): readonly string[] {
    // Rules another module keeps (monitors) name their own channels; none means nobody is told.
    const own = rule.source !== 'api' && rule.source !== 'file';
    return rule.spec.channels.length || own ? rule.spec.channels : this.#deps.defaultChannels();
  }

  /** Takes the evaluator's transitions: firing alerts join their groups, resolved ones are marked. */
  handle(transitions: readonly AlertTransition[]): void {
    const now = this.#now();
    for (const t of transitions) {
      if (t.to !== 'firing' && t.to !== 'resolved') continue;
      for (const channel of this.channelsOf(t.rule)) {
        const labels = groupLabels(t.rule.groupBy, t.alert.labels);
        const key = `${channel}\u0000${JSON.stringify(labels)}`;
        let g = this.#groups.get(key);
        if (t.to === 'resolved') {
          const ga = g?.alerts.get(t.alert.fingerprint);
          if (!g || !ga) continue;
          // A recovery is news only to those who heard of the alert.
          if (!ga.notified) {
            g.alerts.delete(t.alert.fingerprint);
            if (g.alerts.size === 0) this.#groups.delete(key);
            continue;
          }
          ga.status = 'resolved';
          ga.resolvedAtMs = t.atMs;
          ga.details = t.details ?? ga.details;
          continue;
        }
        if (!g) {
          g = {
            key,
            channel,
            labels,
            alerts: new Map(),
            unsentSinceMs: 0,
            lastSentMs: 0,
            waitMs: t.rule.groupWaitMs,
            intervalMs: t.rule.groupIntervalMs,
            repeatMs: t.rule.repeatIntervalMs,
          };
          this.#groups.set(key, g);
        }
        const notified = t.alert.notifiedMs > 0 && t.from === 'firing';
        g.alerts.set(t.alert.fingerprint, {
          rule: t.rule,
          alert: t.alert,
          status: 'firing',
          resolvedAtMs: 0,
          details: t.details,
          notified,
        });
        if (notified) g.lastSentMs = Math.max(g.lastSentMs, t.alert.notifiedMs);
        else if (g.unsentSinceMs === 0) g.unsentSinceMs = now;
      }
    }
  }

  /** Takes alerts out of their groups without a word to anyone (their agent was forgotten). */
  forget(fingerprints: ReadonlySet<string>): void {
    for (const [key, g] of this.#groups) {
      for (const fp of fingerprints) g.alerts.delete(fp);
      if (g.alerts.size === 0) this.#groups.delete(key);
    }
  }

  /** Sends what is due. Called every second. */
  tick(): Notification[] {
    const now = this.#now();
    const silences = this.#deps.silences();
    const sent: Notification[] = [];
    for (const [key, g] of this.#groups) {
      const ch = this.#deps.channel(g.channel);
      if (!ch?.spec.enabled) {
        // A channel removed or switched off takes its pending messages with it.
        this.#groups.delete(key);
        continue;
      }
      const firing: GroupedAlert[] = [];
      const resolved: GroupedAlert[] = [];
      let news = false;
      for (const [fp, ga] of g.alerts) {
        const muted = silences.muting(ga.alert.labels, now).length > 0;
        if (ga.status === 'resolved') {
          if (muted || !ch.spec.send_resolved) g.alerts.delete(fp);
          else {
            resolved.push(ga);
            news = true;
          }
          continue;
        }
        if (muted) continue;
        firing.push(ga);
        if (!ga.notified) {
          news = true;
          if (g.unsentSinceMs === 0) g.unsentSinceMs = now;
        }
      }
      let kind: DeliveryRecord['kind'] | undefined;
      if (g.lastSentMs === 0) {
        if (news && now >= g.unsentSinceMs + g.waitMs) kind = firing.length ? 'firing' : 'resolved';
      } else if (news && now >= g.lastSentMs + g.intervalMs) kind = firing.length ? 'firing' : 'resolved';
      else if (!news && firing.length > 0 && now >= g.lastSentMs + g.repeatMs) kind = 'repeat';
      if (kind) {
        const n = this.#compose(ch, g, firing, resolved, kind === 'repeat', now);
        this.#deps.queue.enqueue(ch, n, kind);
        sent.push(n);
        for (const ga of firing) {
          ga.notified = true;
          ga.alert.notifiedMs = now;
          this.#deps.onNotified?.(ga.alert, now);
        }
        for (const ga of resolved) g.alerts.delete(ga.alert.fingerprint);
        g.lastSentMs = now;
        g.unsentSinceMs = 0;
      }
      if (g.alerts.size === 0) this.#groups.delete(key);
    }
    return sent;
  }

  #compose(ch: ChannelRuntime, g: Group, firing: GroupedAlert[], resolved: GroupedAlert[], repeat: boolean, now: number): Notification {
    const describe = (ga: GroupedAlert) =>
      describeAlert(
        {
          status: ga.status,
          fingerprint: ga.alert.fingerprint,
          rule: ga.rule,
          labels: ga.alert.labels,
          value: ga.alert.value,
          series: ga.alert.series,
          activeSinceMs: ga.alert.activeSinceMs,
          firedAtMs: ga.alert.firedAtMs,
          resolvedAtMs: ga.resolvedAtMs,
          details: ga.details,
        },
        now,
        this.#deps.externalUrl(),
      );
    // The worst first, then by host, so a long list starts with what matters.
    const order = (a: GroupedAlert, b: GroupedAlert) =>
      severityRank(b.rule.spec.severity) - severityRank(a.rule.spec.severity) ||
      (a.alert.labels.host ?? '').localeCompare(b.alert.labels.host ?? '') ||
      a.alert.fingerprint.localeCompare(b.alert.fingerprint);
    return buildNotification(
      {
        id: timeOrderedId(now),
        channel: ch.name,
        groupKey: g.key.replace('\u0000', ':'),
        groupLabels: g.labels,
        repeat,
        externalUrl: this.#deps.externalUrl(),
      },
      firing.sort(order).map(describe),
      resolved.sort(order).map(describe),
      { title: ch.title, text: ch.text, maxAlerts: ch.maxAlerts, escape: ch.sender.escape },
      now,
    );
  }

  groups(): GroupView[] {
    return [...this.#groups.values()].map((g) => {
      let firing = 0;
      for (const a of g.alerts.values()) if (a.status === 'firing') firing++;
      return {
        channel: g.channel,
        key: g.key.replace('\u0000', ':'),
        labels: g.labels,
        firing,
        resolved: g.alerts.size - firing,
        lastSentMs: g.lastSentMs,
      };
    });
  }
}

const severityRank = (s: string) => (s === 'critical' ? 3 : s === 'warning' ? 2 : 1);

/** The group's labels: the values of group_by; `...` groups by every label, i.e. not at all. */
export function groupLabels(groupBy: readonly string[], labels: Readonly<Record<string, string>>): Record<string, string> {
  if (groupBy.includes('...')) return { ...labels };
  const out: Record<string, string> = {};
  for (const k of groupBy) out[k] = labels[k] ?? '';
  return out;
}
