/**
 * Talking to the server the page came from. The token, when the server wants one, comes from the
 * page's own URL (`/?token=...`): fetches send it as `Authorization: Bearer`, and the event stream,
 * which cannot send headers, as `?token=` (the server accepts that on `/` and `/api/live` only).
 */

const token = new URLSearchParams(location.search).get('token');

export function liveUrl(): string {
  return token === null ? 'api/live' : `api/live?token=${encodeURIComponent(token)}`;
}

/** fetch against the server, with the token; a non-2xx answer throws with the server's one-line error. */
export async function api(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (token !== null) headers.set('authorization', `Bearer ${token}`);
  const res = await fetch(path, { ...init, headers });
  if (!res.ok) {
    let message = `${res.status} ${res.statusText}`;
    try {
      const body = (await res.json()) as { error?: string };
      if (body.error) message = `${res.status}: ${body.error}`;
    } catch {
      // Not JSON: the status line says enough.
    }
    throw new Error(message);
  }
  return res;
}
