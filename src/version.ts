import { readFileSync } from 'node:fs';

/** Read from package.json (one level above both src/ and dist/) so the version has one source. */
function readVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

export const RTINFER_VERSION = readVersion();
