import type { Series } from '@falconet/protocol/api';
import { useQuery } from '@tanstack/react-query';
import { fetchHistory } from '../api.ts';
import { bytes, percent } from '../format.ts';
import { useI18n } from '../i18n.tsx';

/**
 * Disk used as `df` computes it, and as the agent's summary (`falconet_disk_used_percent`) does
 * for `/`: used = size - free, shown against what a user can still write, used / (used + available).
 * Blocks reserved for root (free but not available) count on neither side, so a full disk reads 100 %.
 */
export function dfUsedPercent(size: number, free: number, avail: number): number | undefined {
  const used = size - free;
  if (!Number.isFinite(used) || !Number.isFinite(avail)) return undefined;
  return used + avail > 0 ? (100 * used) / (used + avail) : 0;
}

export interface MountRow {
  mount: string;
  fstype: string;
  total?: number;
  /** size - free, as df's Used column. */
  used?: number;
  percent?: number;
}

/** One row per mount from its size, free and available series; the newest value of each. */
export function mountRows(size: Series[], free: Series[], avail: Series[]): MountRow[] {
  const last = (p: [number, number | null][]) => [...p].reverse().find(([, v]) => v !== null)?.[1] ?? undefined;
  const same = (s: Series) => (x: Series) => x.labels.mountpoint === s.labels.mountpoint && x.labels.device === s.labels.device;
  return size
    .map((s) => {
      const total = last(s.points);
      const f = free.find(same(s));
      const a = avail.find(same(s));
      const freeBytes = f ? last(f.points) : undefined;
      const availBytes = a ? last(a.points) : undefined;
      const row: MountRow = { mount: s.labels.mountpoint ?? '?', fstype: s.labels.fstype ?? '', total };
      if (total !== undefined && freeBytes !== undefined) {
        row.used = total - freeBytes;
        if (availBytes !== undefined) row.percent = dfUsedPercent(total, freeBytes, availBytes);
      }
      return row;
    })
    .sort((a, b) => a.mount.localeCompare(b.mount));
}

/** The latest size and use of each mount, from the last 15 minutes. */
export function Mounts({ agentId }: { agentId: string }) {
  const { t } = useI18n();
  const q = useQuery({
    queryKey: ['mounts', agentId],
    refetchInterval: 60_000,
    queryFn: async () => {
      const to = Date.now();
      const [size, free, avail] = await Promise.all(
        ['node_filesystem_size_bytes', 'node_filesystem_free_bytes', 'node_filesystem_avail_bytes'].map((name) =>
          fetchHistory(agentId, name, to - 900_000, to),
        ),
      );
      return mountRows(size?.series ?? [], free?.series ?? [], avail?.series ?? []);
    },
  });
  if (!q.data?.length) return null;
  return (
    <figure className="chart mounts">
      <figcaption>{t('host.mounts')}</figcaption>
      <table data-testid="mounts">
        <thead>
          <tr>
            <th scope="col">{t('host.mount')}</th>
            <th scope="col">{t('host.fstype')}</th>
            <th scope="col">{t('host.size')}</th>
            <th scope="col" title={t('hint.mountDisk')}>
              {t('host.used')}
            </th>
          </tr>
        </thead>
        <tbody>
          {q.data.map((m) => {
            const pct = m.percent;
            return (
              <tr key={m.mount} data-mount={m.mount}>
                <td>{m.mount}</td>
                <td>{m.fstype}</td>
                <td>{bytes(m.total)}</td>
                <td title={t('hint.mountDisk')}>
                  <span className="meter" data-level={pct === undefined ? '' : pct >= 90 ? 'high' : pct >= 70 ? 'mid' : 'low'}>
                    <span data-testid="mount-used">
                      {bytes(m.used)} ({percent(pct)})
                    </span>
                    <span className="fill" style={{ width: `${Math.min(100, pct ?? 0)}%` }} />
                  </span>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </figure>
  );
}
