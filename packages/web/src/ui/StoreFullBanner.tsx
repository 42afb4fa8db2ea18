import type { FleetSummary } from '@falconet/protocol/api';
import { useQuery } from '@tanstack/react-query';
import { getJson } from '../http.ts';
import { useI18n } from '../i18n.tsx';

/**
 * On every page while the server's samples store refuses reports (its data directory is full).
 * It reads the fleet summary the overview polls (same query, one request for both).
 */
export function StoreFullBanner() {
  const { t } = useI18n();
  const summary = useQuery({
    queryKey: ['fleet-summary'],
    queryFn: () => getJson<FleetSummary>('/api/fleet/summary'),
    refetchInterval: 5_000,
  });
  const why = summary.data?.storeUnwritable;
  if (!why) return null;
  return (
    <div className="security-warnings">
      <p className="banner warn" role="alert" data-testid="store-full">
        {t('warning.storeFull', why)}
      </p>
    </div>
  );
}
