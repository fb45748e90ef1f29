/**
 * The environment a measurement ran in, so that two results can be compared knowingly.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { listExecutionProviders } from '../runtime/providers.js';
import { RTINFER_VERSION } from '../version.js';

export interface Environment {
  cpuModel: string;
  cores: number;
  totalMemoryGiB: number;
  platform: string;
  arch: string;
  osRelease: string;
  node: string;
  onnxruntime: string;
  rtinfer: string;
  executionProviders: string[];
  /** 1-minute load average before the run; near or above `cores` means the machine was busy. */
  loadAvgBefore: number;
  startedAt: string;
}

function ortVersion(): string {
  try {
    const require = createRequire(import.meta.url);
    const pkg = JSON.parse(readFileSync(require.resolve('onnxruntime-node/package.json'), 'utf8')) as {
      version?: string;
    };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export function captureEnvironment(): Environment {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cores: os.availableParallelism(),
    totalMemoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    platform: process.platform,
    arch: process.arch,
    osRelease: os.release(),
    node: process.version,
    onnxruntime: ortVersion(),
    rtinfer: RTINFER_VERSION,
    executionProviders: listExecutionProviders()
      .filter((p) => p.available)
      .map((p) => p.name),
    loadAvgBefore: os.loadavg()[0] ?? 0,
    startedAt: new Date().toISOString(),
  };
}
