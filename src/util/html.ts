/** Text made safe for HTML pages and inline JSON (the report, tune, optimize and plan pages). */

export function escapeHtml(s: string): string {
  return s.replace(
    /[<>&"']/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );
}

/**
 * JSON safe inside <script type="application/json">: every '<' becomes \u003c, which rules out
 * '</script' and '<!--' (the two sequences that end or derail a script element); U+2028/2029 are
 * escaped too so the text is also valid JavaScript.
 */
export function jsonForScript(data: unknown): string {
  return JSON.stringify(data)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}
