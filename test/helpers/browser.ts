/**
 * Headless Chromium for the web tests: Debian's `chromium` driven by playwright-core (no browser
 * download). When it is missing, `withPage` marks the test skipped with the reason, so the rest of
 * the suite still runs; `.ci/run` installs it.
 *
 * Every page runs with the network cut off except for file: URLs and the origins a test allows
 * (its own server): other requests are aborted and listed in `blocked`, so a test can assert that
 * a page fetched nothing from anywhere else.
 */
import { existsSync, mkdirSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ROOT } from './models.js';

export const CHROMIUM_PATH = process.env['RTINFER_CHROMIUM'] ?? '/usr/bin/chromium';
export const ARTIFACTS_DIR = `${ROOT}test-artifacts/`;

/** Why browser tests cannot run here, or undefined when they can. */
export function chromiumSkipReason(): string | undefined {
  return existsSync(CHROMIUM_PATH)
    ? undefined
    : `Chromium not found at ${CHROMIUM_PATH} (apt-get install chromium, or set RTINFER_CHROMIUM): browser test skipped`;
}

/** True when Chromium is there; otherwise marks the test skipped (call first, before costly setup). */
export function haveChromium(t: TestContext): boolean {
  const reason = chromiumSkipReason();
  if (reason !== undefined) t.skip(reason);
  return reason === undefined;
}

/** `extraArgs`: more Chromium flags, e.g. the fake camera's `--use-fake-device-for-media-stream`. */
export async function launchBrowser(extraArgs: readonly string[] = []): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    // --no-sandbox: CI runs as root in a container, where Chromium's sandbox cannot start.
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-dev-shm-usage', ...extraArgs],
  });
}

export interface PageSession {
  page: Page;
  /** console.error messages and uncaught page errors, in order. */
  errors: string[];
  /** URLs the page tried to fetch and the network block refused. */
  blocked: string[];
  /** Saves a full-page PNG as test-artifacts/<name>.png and returns its path. */
  screenshot(name: string): Promise<string>;
}

export interface PageOptions {
  /** Origins the page may reach, e.g. 'http://127.0.0.1:8123' for the test's own server. */
  allowOrigins?: string[];
  viewport?: { width: number; height: number };
  /** More Chromium flags for this page's browser. */
  launchArgs?: string[];
}

/**
 * Runs `fn` with a fresh page in a fresh browser, closed afterwards whatever happens. Returns
 * undefined (the test marked skipped) when Chromium is missing.
 */
export async function withPage<T>(
  t: TestContext,
  fn: (s: PageSession) => Promise<T>,
  o: PageOptions = {},
): Promise<T | undefined> {
  const reason = chromiumSkipReason();
  if (reason !== undefined) {
    t.skip(reason);
    return undefined;
  }
  const browser = await launchBrowser(o.launchArgs);
  try {
    const context = await browser.newContext({ viewport: o.viewport ?? { width: 1280, height: 900 } });
    const allowed = new Set(o.allowOrigins ?? []);
    const blocked: string[] = [];
    await context.route('**/*', (route) => {
      const url = new URL(route.request().url());
      if (url.protocol === 'file:' || url.protocol === 'data:' || url.protocol === 'blob:' || allowed.has(url.origin))
        return route.continue();
      blocked.push(url.href);
      return route.abort('blockedbyclient');
    });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`console.error: ${m.text()}`);
    });
    page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
    const screenshot = async (name: string): Promise<string> => {
      mkdirSync(ARTIFACTS_DIR, { recursive: true });
      const file = `${ARTIFACTS_DIR}${name}.png`;
      await page.screenshot({ path: file, fullPage: true });
      return file;
    };
    return await fn({ page, errors, blocked, screenshot });
  } finally {
    await browser.close();
  }
}

export interface ChartState {
  id: string;
  kind: string;
  /** data-points: finite points the chart drew last (set by web/shared/charts.ts after each draw). */
  points: number;
  canvasWidth: number;
  canvasHeight: number;
  /** Canvas pixels that are not fully transparent: proves something was painted. */
  paintedPixels: number;
}

/** Every chart on the page ([data-chart]) with its point count and what its canvas holds. */
export async function chartStates(page: Page): Promise<ChartState[]> {
  return page.$$eval('[data-chart]', (els) =>
    els.map((el) => {
      const canvas = el.querySelector('canvas');
      let painted = 0;
      if (canvas && canvas.width > 0 && canvas.height > 0) {
        const px = canvas.getContext('2d')?.getImageData(0, 0, canvas.width, canvas.height).data;
        if (px) for (let i = 3; i < px.length; i += 4) if (px[i] !== 0) painted++;
      }
      return {
        id: el.id,
        kind: el.getAttribute('data-chart') ?? '',
        points: Number(el.getAttribute('data-points') ?? 0),
        canvasWidth: canvas?.width ?? 0,
        canvasHeight: canvas?.height ?? 0,
        paintedPixels: painted,
      };
    }),
  );
}

/** Waits until at least `count` charts have drawn data points (or the timeout passes). */
export async function waitForCharts(page: Page, count: number, timeoutMs = 10_000): Promise<void> {
  // A string: this file compiles without the DOM library.
  await page.waitForFunction(
    `[...document.querySelectorAll('[data-chart]')].filter((el) => Number(el.dataset.points || 0) > 0).length >= ${Number(count)}`,
    undefined,
    { timeout: timeoutMs },
  );
}
