import { useSession } from './AuthGate.tsx';
import { signOut } from './client.ts';

/** The signed-in user in the header, with sign-out (Settings is in the main navigation). */
export function AccountMenu() {
  const session = useSession();
  if (!session?.user) return null;
  if (session.mode === 'setup') {
    return (
      <span className="account" data-testid="account-menu">
        local access: no users yet
      </span>
    );
  }
  return (
    <span className="account" data-testid="account-menu">
      <span>
        {session.user.name} ({session.user.role})
      </span>
      <button
        type="button"
        data-testid="signout"
        onClick={() => {
          signOut().finally(() => location.assign('/'));
        }}
      >
        Sign out
      </button>
    </span>
  );
}
