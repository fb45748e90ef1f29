/**
 * Which execution providers this onnxruntime-node binary can really use. The binding lists the EPs
 * it was built with; the CUDA and TensorRT ones are "not bundled": their libraries arrive only
 * through the package's install script, so a listed EP may still be missing its library. Asking
 * ORT to load a missing one prints a native error log before failing, so we check first.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { listSupportedBackends } from 'onnxruntime-node';
import { RtinferError } from '../errors.js';

export interface ProviderStatus {
  name: string;
  available: boolean;
  /** Why it is not available, when it is not. */
  reason?: string;
}

/** The library each non-bundled EP needs beside the binding (Linux and Windows names). */
const PROVIDER_LIBRARIES: Readonly<Record<string, readonly string[]>> = {
  cuda: ['libonnxruntime_providers_cuda.so', 'onnxruntime_providers_cuda.dll'],
  tensorrt: ['libonnxruntime_providers_tensorrt.so', 'onnxruntime_providers_tensorrt.dll'],
};

function bindingDir(): string {
  const require = createRequire(import.meta.url);
  const pkgDir = path.dirname(require.resolve('onnxruntime-node/package.json'));
  return path.join(pkgDir, 'bin', 'napi-v6', process.platform, process.arch);
}

let cached: ProviderStatus[] | undefined;

export function listExecutionProviders(): ProviderStatus[] {
  if (cached) return cached;
  const dir = bindingDir();
  cached = listSupportedBackends().map(({ name, bundled }) => {
    if (bundled) return { name, available: true };
    const libs = PROVIDER_LIBRARIES[name] ?? [];
    if (libs.some((lib) => existsSync(path.join(dir, lib)))) return { name, available: true };
    return {
      name,
      available: false,
      reason:
        `its library (${libs[0] ?? name}) is not installed; reinstall onnxruntime-node with ` +
        `ONNXRUNTIME_NODE_INSTALL=cuda12 on a machine with CUDA 12`,
    };
  });
  return cached;
}

/** Throws a one-line usage error unless every named EP can be used by this binary. */
export function assertProvidersAvailable(names: readonly string[]): void {
  const all = listExecutionProviders();
  for (const name of names) {
    const status = all.find((p) => p.name === name);
    if (status === undefined) {
      const have = all.map((p) => p.name + (p.available ? '' : ' (not installed)')).join(', ');
      throw new RtinferError(
        'RTI_ERR_EP_UNAVAILABLE',
        `execution provider '${name}' is not in this onnxruntime-node build ` +
          `for ${process.platform}/${process.arch} (it has: ${have})`,
      );
    }
    if (!status.available) {
      throw new RtinferError(
        'RTI_ERR_EP_UNAVAILABLE',
        `execution provider '${name}' is not available: ${status.reason}`,
      );
    }
  }
}
