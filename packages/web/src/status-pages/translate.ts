import type { StatusLanguage } from '@falconet/protocol/api';
import { statusPublicEn, statusPublicZh } from '../i18n/status-pages.ts';

export type PublicKey = keyof typeof statusPublicEn;
export type PublicTranslate = (key: PublicKey, ...args: (string | number)[]) => string;

const DICTS: Record<StatusLanguage, Record<PublicKey, string>> = { en: statusPublicEn, zh: statusPublicZh };

/**
 * The public page's own translator: it runs without the dashboard's provider (its bundle carries
 * only its own words), and the admin's preview uses it with the page's language too.
 */
export function publicTranslator(lang: StatusLanguage): PublicTranslate {
  const dict = DICTS[lang];
  return (key, ...args) => dict[key].replace(/\{(\d)\}/g, (_, i) => String(args[Number(i)] ?? ''));
}

/** 0..1 as a percent with two decimals, rounded down so a day with any downtime never reads 100.00 %. */
export function percent(v: number): string {
  return `${(Math.floor(v * 10_000) / 100).toFixed(2)} %`;
}

/** The colour class of a day or an item by its uptime. */
export function uptimeClass(v: number | null): string {
  if (v === null) return 'none';
  if (v >= 0.999) return 'good';
  if (v >= 0.99) return 'fair';
  if (v >= 0.95) return 'poor';
  return 'bad';
}

/** A UTC day as YYYY-MM-DD: the days of the bars are UTC days. */
export const utcDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

export function dateTimeText(lang: StatusLanguage, ms: number): string {
  return new Intl.DateTimeFormat(lang === 'zh' ? 'zh-CN' : 'en-GB', { dateStyle: 'medium', timeStyle: 'short' }).format(ms);
}
