#!/usr/bin/env node
/**
 * Builds the browser pages (every web/<entry>/main.ts; web/shared is library code, not a page)
 * into dist/web/<entry>.js and dist/web/<entry>.css. The HTML that rtinfer writes or serves
 * inlines both, so a report opens offline and nothing is ever fetched from a CDN.
 *
 * CSS per entry: uPlot's stylesheet, web/base.css, then web/<entry>.css and web/<entry>/main.css
 * when they exist.
 *
 * Usage: node scripts/build-web.mjs [--check]   (--check: build to memory only, write nothing)
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const webDir = path.join(root, 'web');
const outDir = path.join(root, 'dist', 'web');
const check = process.argv.includes('--check');

function webEntries() {
  return readdirSync(webDir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && d.name !== 'shared' && existsSync(path.join(webDir, d.name, 'main.ts')))
    .map((d) => d.name)
    .sort();
}

// The bundles are inlined into <script> and <style> elements; these sequences would end the
// element early (or switch the HTML parser into its escaped state), so a bundle holding one fails
// the build rather than producing a page that breaks in a browser.
const FORBIDDEN = [/<\/script/i, /<!--/, /<\/style/i];

function checkInlinable(name, text) {
  for (const re of FORBIDDEN)
    if (re.test(text)) throw new Error(`build-web: ${name} contains ${re} and cannot be inlined into HTML`);
}

// uPlot's MIT licence asks for its notice in copies; minifying drops its header comment, so a
// one-line banner keeps it (without a URL: the pages are checked to contain none).
const uplotVersion = JSON.parse(readFileSync(path.join(root, 'node_modules', 'uplot', 'package.json'), 'utf8')).version;
const notice = `/*! rtinfer page. Includes uPlot ${uplotVersion}, Copyright (c) Leon Sorokin, MIT License. */`;
const common = {
  bundle: true,
  minify: true,
  target: 'es2020',
  logLevel: 'warning',
  write: false,
  legalComments: 'none',
  absWorkingDir: root,
  banner: { js: notice, css: notice },
};

async function buildEntry(entry) {
  const js = await esbuild.build({
    ...common,
    entryPoints: [path.join(webDir, entry, 'main.ts')],
    format: 'iife',
    outfile: path.join(outDir, `${entry}.js`),
  });
  const cssImports = [
    path.join(root, 'node_modules', 'uplot', 'dist', 'uPlot.min.css'),
    path.join(webDir, 'base.css'),
    path.join(webDir, `${entry}.css`),
    path.join(webDir, entry, 'main.css'),
  ]
    .filter((f) => existsSync(f))
    .map((f) => `@import ${JSON.stringify(f)};`)
    .join('\n');
  const css = await esbuild.build({
    ...common,
    stdin: {
      contents: cssImports,
      loader: 'css',
      resolveDir: webDir,
      sourcefile: `${entry}.bundle.css` /* not web/<entry>.css, which esbuild would take for a self-import */,
    },
    outfile: path.join(outDir, `${entry}.css`),
  });
  const out = [...js.outputFiles, ...css.outputFiles];
  for (const f of out) checkInlinable(path.relative(root, f.path), f.text);
  if (!check) {
    mkdirSync(outDir, { recursive: true });
    for (const f of out) writeFileSync(f.path, f.contents);
  }
  return out.map((f) => `${path.relative(root, f.path)} ${(f.contents.length / 1024).toFixed(1)} KiB`);
}

const entries = webEntries();
if (entries.length === 0) throw new Error('build-web: no web/<entry>/main.ts found');
const lines = (await Promise.all(entries.map(buildEntry))).flat();
console.log(`build-web: ${check ? 'checked' : 'wrote'} ${lines.join(', ')}`);
