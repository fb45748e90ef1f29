/**
 * The built browser assets (dist/web/<entry>.js and .css, made by scripts/build-web.mjs) and the
 * self-contained HTML page around them: scripts, styles and data inlined, nothing fetched at view
 * time, so a report opens offline and the dashboard needs no CDN.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RtinferError } from '../errors.js';
import { escapeHtml, jsonForScript } from '../util/html.js';

/** One per web/<entry>/main.ts page. */
export type WebEntry = 'report' | 'dashboard' | 'tune' | 'runs';

// From dist/report/web-assets.js the assets are at dist/web; from src/report/web-assets.ts (tests
// under tsx) at ../../dist/web (src/web does not exist). The first directory holding the file wins.
const CANDIDATES = [new URL('../web/', import.meta.url), new URL('../../dist/web/', import.meta.url)];
const cache = new Map<string, string>();

/** Reads `name` from the first of `dirs` that has it; exported for tests. */
export function readWebAsset(dirs: readonly string[], name: string): string {
  const dir = dirs.find((d) => existsSync(path.join(d, name)));
  if (dir === undefined)
    throw new RtinferError(
      'RTI_ERR_WEB_ASSETS_MISSING',
      `web asset ${name} is not built (looked in ${dirs.join(' and ')}): run npm run build`,
    );
  return readFileSync(path.join(dir, name), 'utf8');
}

/** The text of a built asset such as 'report.js' or 'dashboard.css' (read once, then cached). */
export function webAsset(name: `${WebEntry}.${'js' | 'css'}`): string {
  let text = cache.get(name);
  if (text === undefined) {
    text = readWebAsset(
      CANDIDATES.map((u) => fileURLToPath(u)),
      name,
    );
    cache.set(name, text);
  }
  return text;
}

// scripts/build-web.mjs refuses bundles holding these; this guards against an older build.
function inlineScript(js: string): string {
  return js.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');
}

function inlineStyle(css: string): string {
  return css.replace(/<\/(style)/gi, '<\\/$1');
}

export interface PageOptions {
  title: string;
  entry: WebEntry;
  /** Embedded as JSON in #rtinfer-data, read by the page script. */
  data: unknown;
  /** Markup placed in <body> before the scripts (already escaped by the caller); default an empty <main id="app">. */
  bodyHtml?: string;
}

/** A complete, self-contained HTML document for one of the web entries. */
export function renderPage(o: PageOptions): string {
  const css = webAsset(`${o.entry}.css`);
  const js = webAsset(`${o.entry}.js`);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="rtinfer">
<title>${escapeHtml(o.title)}</title>
<style>${inlineStyle(css)}</style>
</head>
<body>
${o.bodyHtml ?? '<main id="app"></main>'}
<script type="application/json" id="rtinfer-data">${jsonForScript(o.data)}</script>
<script>${inlineScript(js)}</script>
</body>
</html>
`;
}
