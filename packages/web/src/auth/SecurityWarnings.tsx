import { isMessageKey, useI18n } from '../i18n.tsx';
import { useSession } from './AuthGate.tsx';

/** Risks the server's configuration accepted, shown to admins on every page until fixed there. */
export function SecurityWarnings() {
  const { t } = useI18n();
  const warnings = useSession()?.warnings ?? [];
  if (warnings.length === 0) return null;
  return (
    <div className="security-warnings">
      {warnings.map((w) => {
        const key = `warning.${w}`;
        return (
          <p key={w} className="banner warn" role="alert" data-testid={`warning-${w}`}>
            {isMessageKey(key) ? t(key) : t('warning.unknown', w)}
          </p>
        );
      })}
    </div>
  );
}
