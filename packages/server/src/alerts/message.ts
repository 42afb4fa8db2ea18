/**
 * What a channel is given to send: a notification and its alerts, already rendered. Types only, so
 * the channel files depend on nothing of the rules and specs that the notification is made from.
 */
export interface NotifiedAlert {
  status: 'firing' | 'resolved';
  fingerprint: string;
  ruleId: string;
  rule: string;
  severity: string;
  host: string;
  agent: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  value: number;
  summary: string;
  activeSinceMs: number;
  firedAtMs: number;
  resolvedAtMs: number;
  /** ISO 8601, as Alertmanager's webhook has them; endsAt is empty while firing. */
  startsAt: string;
  endsAt: string;
  /** How long it has been firing, or fired. */
  duration: string;
}

export interface Notification {
  id: string;
  channel: string;
  status: 'firing' | 'resolved';
  groupKey: string;
  groupLabels: Record<string, string>;
  /** The group's alert name, or a count when it holds several rules. */
  name: string;
  commonLabels: Record<string, string>;
  commonAnnotations: Record<string, string>;
  alerts: NotifiedAlert[];
  firing: NotifiedAlert[];
  resolved: NotifiedAlert[];
  firingCount: number;
  resolvedCount: number;
  /** The alerts a message lists (at most the channel's max_alerts), and how many it leaves out. */
  shownFiring: NotifiedAlert[];
  shownResolved: NotifiedAlert[];
  moreFiring: number;
  moreResolved: number;
  /** A reminder that alerts still fire (repeat_interval), not news. */
  repeat: boolean;
  externalUrl: string;
  createdMs: number;
  /** Filled from the channel's templates or the defaults below. */
  title: string;
  text: string;
}
