import { useQuery } from '@tanstack/react-query';
import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { AccountMenu } from '../src/auth/AccountMenu.tsx';
import { AuthGate } from '../src/auth/AuthGate.tsx';
import { SignInPage } from '../src/auth/SignInPage.tsx';
import { ApiError } from '../src/http.ts';
import { deferred, stubFetch } from './fetch-stub.ts';
import { renderPage } from './render.tsx';

const SIGNED_IN = { mode: 'signed-in', user: { name: 'alice', role: 'admin', kind: 'session' }, csrfToken: 'c1', expiresMs: null };
const SIGNED_OUT = { mode: 'signed-out', user: null, csrfToken: null, expiresMs: null };

/** Navigation the pages do with location.replace/assign, kept instead of leaving the test page. */
function stubNavigation() {
  return {
    replace: vi.spyOn(location, 'replace').mockImplementation(() => undefined),
    assign: vi.spyOn(location, 'assign').mockImplementation(() => undefined),
  };
}

beforeEach(() => {
  history.replaceState(null, '', '/');
});

describe('SignInPage', () => {
  it('signs in with what was typed and reloads the page it was on', async () => {
    const server = stubFetch({ 'POST /api/auth/signin': { body: SIGNED_IN } });
    const nav = stubNavigation();
    history.replaceState(null, '', '/alerts?x=1');
    renderPage(<SignInPage />);
    await userEvent.type(screen.getByLabelText('Name'), 'alice');
    await userEvent.type(screen.getByLabelText('Password'), 'correct horse');
    await userEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    await waitFor(() => expect(nav.replace).toHaveBeenCalledWith('/alerts?x=1'));
    expect(server.to('POST /api/auth/signin').map((c) => c.body)).toEqual([{ name: 'alice', password: 'correct horse' }]);
  });

  it('goes to the overview after signing in on /signin', async () => {
    stubFetch({ 'POST /api/auth/signin': { body: SIGNED_IN } });
    const nav = stubNavigation();
    history.replaceState(null, '', '/signin');
    renderPage(<SignInPage />);
    await userEvent.type(screen.getByLabelText('Name'), 'alice');
    await userEvent.type(screen.getByLabelText('Password'), 'pw');
    await userEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    await waitFor(() => expect(nav.replace).toHaveBeenCalledWith('/'));
  });

  it("keeps the button disabled while the server answers, then shows the server's reason and allows another try", async () => {
    const answer = deferred<{ status: number; body: unknown }>();
    stubFetch({ 'POST /api/auth/signin': () => answer.promise });
    const nav = stubNavigation();
    renderPage(<SignInPage />);
    await userEvent.type(screen.getByLabelText('Name'), 'alice');
    await userEvent.type(screen.getByLabelText('Password'), 'wrong');
    const button = screen.getByRole('button', { name: 'Sign in' }) as HTMLButtonElement;
    await userEvent.click(button);
    expect(button.disabled).toBe(true);

    answer.resolve({ status: 401, body: { error: { code: 'unauthorized', message: 'wrong name or password' } } });
    expect((await screen.findByRole('alert')).textContent).toBe('wrong name or password');
    expect(button.disabled).toBe(false);
    expect(nav.replace).not.toHaveBeenCalled();
  });

  it('asks for both fields before sending anything', async () => {
    const server = stubFetch({});
    renderPage(<SignInPage />);
    await userEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(server.calls).toEqual([]);
  });
});

/** A dashboard page whose query the server turns down with 401: a session that ended. */
function ExpiringPage() {
  const q = useQuery({
    queryKey: ['expiring'],
    queryFn: () => Promise.reject(new ApiError(401, 'unauthorized', 'session expired')),
  });
  return <p>{q.isError ? 'failed' : 'dashboard'}</p>;
}

describe('AuthGate', () => {
  it('shows the sign-in page to a browser nobody signed in on', async () => {
    stubFetch({ 'GET /api/auth/session': { body: SIGNED_OUT } });
    renderPage(
      <AuthGate>
        <p>dashboard</p>
      </AuthGate>,
    );
    expect(screen.getByText('Loading…')).toBeTruthy();
    expect(await screen.findByTestId('signin-form')).toBeTruthy();
    expect(screen.queryByText('dashboard')).toBeNull();
  });

  it('shows the dashboard with who is signed in, and signs out on a click', async () => {
    const server = stubFetch({ 'GET /api/auth/session': { body: SIGNED_IN }, 'POST /api/auth/signout': { status: 204 } });
    const nav = stubNavigation();
    renderPage(
      <AuthGate>
        <AccountMenu />
        <p>dashboard</p>
      </AuthGate>,
    );
    expect(await screen.findByText('dashboard')).toBeTruthy();
    expect(screen.getByText('alice (admin)')).toBeTruthy();
    await userEvent.click(screen.getByRole('button', { name: 'Sign out' }));
    await waitFor(() => expect(nav.assign).toHaveBeenCalledWith('/'));
    // The session's CSRF token goes with the change it makes.
    expect(server.to('POST /api/auth/signout')[0]?.headers['x-falconet-csrf']).toBe('c1');
  });

  it('says the server is not reachable, with its reason', async () => {
    stubFetch({ 'GET /api/auth/session': { status: 502, body: { error: { message: 'bad gateway' } } } });
    renderPage(
      <AuthGate>
        <p>dashboard</p>
      </AuthGate>,
    );
    expect((await screen.findByRole('alert')).textContent).toBe('Could not reach the server: bad gateway');
  });

  it('asks again who the browser is when a page is refused with 401, and then shows sign-in', async () => {
    // The session ends on the server between the first answer and the page's query.
    const answers = [SIGNED_IN, SIGNED_OUT];
    const server = stubFetch({ 'GET /api/auth/session': () => ({ body: answers.shift() ?? SIGNED_OUT }) });
    renderPage(
      <AuthGate>
        <ExpiringPage />
      </AuthGate>,
      { lang: 'zh' },
    );
    expect(await screen.findByTestId('signin-form')).toBeTruthy();
    expect(screen.getByRole('button', { name: '登录' })).toBeTruthy();
    expect(server.to('GET /api/auth/session')).toHaveLength(2);
  });
});
