/**
 * The models a server holds, by name and version, and the repository operations that change them
 * while it serves: load (a version policy's versions, each in its own engine), unload (its queues
 * drained first), and polling a repository folder for changes.
 *
 * Rules: a load that fails leaves whatever served before still serving; versions are swapped in
 * only once their engines are ready, and the ones they replace are drained after the swap; one
 * operation at a time per model name. `models` maps each name to its default version (the highest
 * loaded one that is ready, else the highest), which is what an unversioned request and the
 * dashboard get.
 */
import { RtinferError, firstLine } from '../errors.js';
import { HttpError, quote, type InternalErrorLog } from './http-io.js';
import { modelReadiness } from './model-health.js';
import { fingerprint, scanRepository, servedVersions, versionConfig, type RepositoryModel } from './repository.js';
import type { IndexEntry, LoadedModelEntry, ModelConfig, ModelTableView, ServerConfig } from './types.js';

export interface ModelTableOptions {
  config: ServerConfig;
  /** Creates the entry's engine (state READY) or throws (state UNAVAILABLE with the reason). */
  load(entry: LoadedModelEntry): Promise<void>;
  closing(): boolean;
  log: InternalErrorLog;
  /** A version left the server: forget what was kept about it (statistics). */
  forget(name: string, version: string): void;
}

export class ModelTable implements ModelTableView {
  /** The default version of each loaded model. */
  readonly models = new Map<string, LoadedModelEntry>();
  readonly #versions = new Map<string, Map<string, LoadedModelEntry>>();
  readonly #o: ModelTableOptions;
  /** Per repository name: what was loaded (its fingerprint), or why it is not. */
  readonly #repo = new Map<string, { fingerprint?: string; reason?: string; tried?: string }>();
  readonly #ops = new Map<string, Promise<unknown>>();
  #poller: NodeJS.Timeout | undefined;
  #polling = false;

  constructor(options: ModelTableOptions) {
    this.#o = options;
    for (const m of options.config.models) this.#put(m.name, new Map([[m.version, { config: m, state: 'LOADING' }]]));
  }

  get repository(): ServerConfig['modelRepository'] {
    return this.#o.config.modelRepository;
  }

  /** Every loaded version of every model. */
  *entries(): IterableIterator<LoadedModelEntry> {
    for (const versions of this.#versions.values()) yield* versions.values();
  }

  versionsOf(name: string): string[] {
    return [...(this.#versions.get(name)?.keys() ?? [])].sort((a, b) => Number(b) - Number(a) || a.localeCompare(b));
  }

  find(name: string, version?: string): LoadedModelEntry | undefined {
    return version === undefined ? this.models.get(name) : this.#versions.get(name)?.get(version);
  }

  /** Whether the repository holds this name (so a 404 can say how to load it). */
  knownInRepository(name: string): boolean {
    return this.#repo.has(name);
  }

  /** Start-up: the config's models, then the repository's as its control mode says. Rejects if one fails. */
  async start(): Promise<void> {
    await Promise.all([...this.entries()].map((e) => this.#o.load(e)));
    const repo = this.repository;
    if (!repo) return;
    const scan = await scanRepository(repo.dir);
    for (const name of scan.keys()) if (!this.#repo.has(name)) this.#repo.set(name, { reason: 'not loaded' });
    if (repo.control === 'explicit') {
      for (const name of repo.load)
        if (!scan.has(name))
          throw new RtinferError('RTI_ERR_MODEL_NOT_FOUND', `--load-model ${name}: no model '${name}' in ${repo.dir}`);
    }
    const names = repo.control === 'explicit' ? repo.load : [...scan.keys()];
    await Promise.all(names.map((n) => this.load(n, scan)));
    if (repo.control === 'poll') this.#startPolling(repo.pollSeconds);
  }

  /** Loads (or reloads) a repository model; serialized per name. */
  load(name: string, scan?: Map<string, RepositoryModel>): Promise<void> {
    return this.#serial(name, () => this.#loadNow(name, scan));
  }

  unload(name: string): Promise<void> {
    return this.#serial(name, () => this.#unloadNow(name));
  }

  /** POST /v2/repository/index: every repository model and every loaded one, with state and reason. */
  async index(readyOnly: boolean): Promise<IndexEntry[]> {
    const out: IndexEntry[] = [];
    const names = new Set([...this.#versions.keys()]);
    if (this.repository) {
      for (const name of (await scanRepository(this.repository.dir)).keys()) {
        names.add(name);
        if (!this.#repo.has(name)) this.#repo.set(name, { reason: 'not loaded' });
      }
    }
    for (const name of [...names].sort()) {
      const versions = this.#versions.get(name);
      if (!versions || versions.size === 0) {
        if (!readyOnly) out.push({ name, state: 'UNAVAILABLE', reason: this.#repo.get(name)?.reason ?? 'not loaded' });
        continue;
      }
      for (const v of this.versionsOf(name)) {
        const m = versions.get(v)!;
        const r = modelReadiness(m);
        if (readyOnly && !(m.state === 'READY' && r.ready)) continue;
        const state = m.state === 'READY' && !r.ready ? 'UNAVAILABLE' : m.state;
        out.push({ name, version: v, state, ...(r.reason ? { reason: r.reason } : {}) });
      }
    }
    return out;
  }

  /** Stops watching the repository: a shutdown drains the models as they are. */
  stopPolling(): void {
    if (this.#poller) clearInterval(this.#poller);
    this.#poller = undefined;
  }

  /** Stops polling and closes every engine (drained for at most `timeoutMs`). */
  async close(timeoutMs: number): Promise<void> {
    this.stopPolling();
    await Promise.all([...this.entries()].map((m) => m.engine?.close({ drain: true, timeoutMs })));
  }

  #serial<T>(name: string, op: () => Promise<T>): Promise<T> {
    const before = this.#ops.get(name) ?? Promise.resolve();
    const run = before.then(op, op);
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.#ops.set(name, settled);
    void settled.then(() => {
      if (this.#ops.get(name) === settled) this.#ops.delete(name);
    });
    return run;
  }

  async #loadNow(name: string, given?: Map<string, RepositoryModel>): Promise<void> {
    const repo = this.repository;
    if (!repo) throw new HttpError(400, 'this server has no model repository (serve --model-dir DIR)');
    if (this.#o.closing()) throw new HttpError(503, 'the server is shutting down', { 'retry-after': '1' });
    const scan = given ?? (await scanRepository(repo.dir));
    const m = scan.get(name);
    if (!m) throw new HttpError(404, `no model '${quote(name)}' in the repository`);
    const wanted = servedVersions(m);
    if (wanted.length === 0)
      throw this.#failed(
        name,
        `the version policy of '${name}' selects none of its versions (${[...m.versions.keys()].join(', ')})`,
      );
    const current = this.#versions.get(name) ?? new Map<string, LoadedModelEntry>();
    const stamp = (c: ModelConfig): string => JSON.stringify([c, m.versions.get(c.version)?.mtimeMs, m.configMtimeMs]);
    const next = new Map<string, LoadedModelEntry>();
    const fresh: LoadedModelEntry[] = [];
    try {
      for (const v of wanted) {
        const config = versionConfig(m, v);
        const old = current.get(v);
        if (old && old.state === 'READY' && old.stamp === stamp(config)) {
          next.set(v, old);
          continue;
        }
        const entry: LoadedModelEntry = { config, state: 'LOADING', stamp: stamp(config) };
        fresh.push(entry);
        next.set(v, entry);
      }
      await Promise.all(fresh.map((e) => this.#o.load(e)));
    } catch (error) {
      // What served before keeps serving; the engines made for this attempt go.
      await Promise.all(fresh.map((e) => e.engine?.close({ drain: false })));
      throw this.#failed(name, `cannot load '${name}': ${firstLine(error)}`, fingerprint(m));
    }
    const leaving = [...current.entries()].filter(([v, e]) => next.get(v) !== e);
    this.#put(name, next);
    this.#repo.set(name, { fingerprint: fingerprint(m) });
    await this.#retire(name, leaving);
  }

  async #unloadNow(name: string): Promise<void> {
    const repo = this.repository;
    if (!repo) throw new HttpError(400, 'this server has no model repository (serve --model-dir DIR)');
    const versions = this.#versions.get(name);
    if (!this.#repo.has(name)) {
      if (versions)
        throw new HttpError(400, `model '${name}' is not from the repository: it is served for the server's lifetime`);
      throw new HttpError(404, `no model '${quote(name)}' in the repository`);
    }
    this.#put(name, new Map());
    this.#repo.set(name, { reason: 'unloaded' });
    await this.#retire(name, [...(versions ?? new Map<string, LoadedModelEntry>()).entries()]);
  }

  /** Remembers why a load failed (and what it tried, so polling does not retry an unchanged model). */
  #failed(name: string, reason: string, tried?: string): HttpError {
    const had = this.#repo.get(name);
    this.#repo.set(name, {
      ...(had?.fingerprint ? { fingerprint: had.fingerprint } : {}),
      reason,
      ...(tried ? { tried } : {}),
    });
    return new HttpError(400, reason);
  }

  /** Versions that left the table: their queues drain (answered), then their engines close. */
  async #retire(name: string, leaving: Array<[string, LoadedModelEntry]>): Promise<void> {
    await Promise.all(
      leaving.map(async ([version, e]) => {
        e.state = 'UNAVAILABLE';
        e.reason = 'unloaded';
        await e.engine?.close({ drain: true, timeoutMs: this.#o.config.drainTimeoutMs });
        this.#o.forget(name, version);
      }),
    );
  }

  #put(name: string, versions: Map<string, LoadedModelEntry>): void {
    if (versions.size === 0) {
      this.#versions.delete(name);
      this.models.delete(name);
      return;
    }
    this.#versions.set(name, versions);
    const order = [...versions.keys()].sort((a, b) => Number(b) - Number(a) || a.localeCompare(b));
    const ready = order.find((v) => versions.get(v)?.state === 'READY');
    this.models.set(name, versions.get(ready ?? order[0]!)!);
  }

  #startPolling(seconds: number): void {
    this.#poller = setInterval(() => void this.#poll(), seconds * 1000);
    this.#poller.unref();
  }

  /** One pass: changed models reload, removed ones unload; failures are logged, serving goes on. */
  async #poll(): Promise<void> {
    const repo = this.repository;
    if (!repo || this.#polling || this.#o.closing()) return;
    this.#polling = true;
    try {
      const scan = await scanRepository(repo.dir);
      const work: Array<Promise<void>> = [];
      for (const [name, m] of scan) {
        const known = this.#repo.get(name);
        const now = fingerprint(m);
        if (known?.fingerprint !== now && known?.tried !== now)
          work.push(this.load(name, scan).catch((e) => this.#o.log(e)));
      }
      for (const name of this.#repo.keys()) {
        if (!scan.has(name) && this.#versions.has(name)) work.push(this.unload(name).catch((e) => this.#o.log(e)));
        else if (!scan.has(name)) this.#repo.delete(name);
      }
      await Promise.all(work);
    } catch (error) {
      this.#o.log(error);
    } finally {
      this.#polling = false;
    }
  }
}
