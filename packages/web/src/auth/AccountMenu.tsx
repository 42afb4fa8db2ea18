import { useI18n, word } from '../i18n.tsx';
import { Button } from '../ui/Button.tsx';
import { useSession } from './AuthGate.tsx';
import { signOut } from './client.ts';

/** The signed-in user in the header, with sign-out (Settings is in the main navigation). */
export function AccountMenu() {
  const { t } = useI18n();
  const session = useSession();
  if (!session?.user) return null;
  if (session.mode === 'setup') {
    return (
      <span className="account" data-testid="account-menu">
        {t('auth.localAccess')}
      </span>
    );
  }
  return (
    <span className="account" data-testid="account-menu">
      <span>{t('auth.whoami', session.user.name, word(t, 'auth.role', session.user.role))}</span>
      <Button
        small
        className="signout"
        data-testid="signout"
        onClick={() => {
          signOut().finally(() => location.assign('/'));
        }}
      >
        {t('auth.signOut')}
      </Button>
    </span>
  );
}
