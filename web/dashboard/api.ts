/**
 * Talking to the server the page came from. The token, when the server wants one, comes from the
 * page's own URL (`/?token=...`): fetches send it as `Authorization: Bearer`, and the event stream,
 * which cannot send headers, as `?token=` (the server accepts that on `/`, `/api/live` and the WebSocket streams only).
 */

const token = new URLSearchParams(location.search).get('token');

export function liveUrl(): string {
  return token === null ? 'api/live' : `api/live?token=${encodeURIComponent(token)}`;
}

/** The WebSocket URL of a model's frame stream, beside the page (browsers cannot set headers on a WebSocket: the token goes as `?token=`). */
export function streamUrl(model: string): string {
  const url = new URL(`api/models/${encodeURIComponent(model)}/stream`, location.href);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.search = token === null ? '' : `?token=${encodeURIComponent(token)}`;
  return url.href;
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
