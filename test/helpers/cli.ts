/** Runs the built `rtinfer` command (dist/cli/main.js; `npm run build` first) and keeps its exit code and output. */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from './models.js';

export const CLI = path.join(ROOT, 'dist/cli/main.js');

// Commands record their runs (.rtinfer/runs.db in the working directory by default): tests record
// into a store of their own, removed when the test process ends, instead of the repository's.
let storeDir: string | undefined;
function testStore(): string {
  if (storeDir === undefined) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rtinfer-test-store-'));
    storeDir = dir;
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  return path.join(storeDir, 'runs.db');
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  cwd?: string;
  /** Added to (or, as undefined, removed from) the environment. */
  env?: Record<string, string | undefined>;
}

export async function rtinfer(...args: string[]): Promise<CliResult> {
  return rtinferWith({}, ...args);
}

export async function rtinferWith(o: CliOptions, ...args: string[]): Promise<CliResult> {
  const env: Record<string, string | undefined> = {
    ...process.env,
    RTINFER_STORE: process.env['RTINFER_STORE'] ?? testStore(),
    ...o.env,
  };
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI, ...args], {
      cwd: o.cwd ?? ROOT,
      env: env as NodeJS.ProcessEnv,
      timeout: 120_000,
      maxBuffer: 64 << 20,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}
