import { ApiError, type Route } from '../control-api.js';
import { type BrowserSessions, SESSION_COOKIE } from '../ui/browser-sessions.js';
import { DASHBOARD_CSS, DASHBOARD_HTML, DASHBOARD_JS } from '../ui/dashboard-page.js';

export interface UiRoutesDeps {
  readonly browserSessions: Pick<BrowserSessions, 'issueCode' | 'redeem' | 'sessionTtlMs'>;
}

/** The page loads nothing from elsewhere and runs no inline script; no other site may frame it. */
const PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

/**
 * The dashboard (`/ui`, its script and styles: static, no data, served without a token) and its login:
 * `POST /v1/ui/login` (with the bearer token, what `meshctl ui` calls) answers a one-time link; `GET /ui/login`
 * trades it for a session cookie that admits read-only API requests (control-api.ts).
 */
export function uiRoutes(deps: UiRoutesDeps): Route[] {
  const asset = (path: string, text: string, contentType: string): Route => ({
    method: 'GET',
    path,
    handler: () => ({ text, contentType, headers: PAGE_HEADERS }),
  });
  return [
    asset('/ui', DASHBOARD_HTML, 'text/html; charset=utf-8'),
    asset('/ui/app.js', DASHBOARD_JS, 'text/javascript; charset=utf-8'),
    asset('/ui/app.css', DASHBOARD_CSS, 'text/css; charset=utf-8'),
    {
      method: 'POST',
      path: '/v1/ui/login',
      handler: () => {
        const { code, expiresAt } = deps.browserSessions.issueCode();
        return { json: { path: `/ui/login?code=${code}`, expiresAt } };
      },
    },
    {
      method: 'GET',
      path: '/ui/login',
      handler: (req) => {
        const code = req.query.get('code') ?? '';
        const session = code.length > 0 && code.length <= 128 ? deps.browserSessions.redeem(code) : undefined;
        if (session === undefined)
          throw new ApiError(401, 'this login link was used already or has expired: run meshctl ui again');
        const maxAge = Math.floor(deps.browserSessions.sessionTtlMs / 1000);
        return {
          status: 303,
          text: 'logged in\n',
          contentType: 'text/plain; charset=utf-8',
          headers: {
            ...PAGE_HEADERS,
            location: '/ui',
            'set-cookie': `${SESSION_COOKIE}=${session}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${maxAge}`,
          },
        };
      },
    },
  ];
}
