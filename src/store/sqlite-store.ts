/**
 * The embedded run store: one SQLite file (better-sqlite3) in WAL mode, so readers never block the
 * writer and two processes that finish a run at the same moment both land (the second waits on the
 * busy timeout, 10 s, far above an insert's milliseconds). A file that is not a database, or one
 * written by a newer rtinfer, is refused with a one-line error and left untouched.
 */
import { existsSync } from 'node:fs';
import { makeDirSync } from '../util/make-dir.js';
import path from 'node:path';
import { createRequire } from 'node:module';
import type Database from 'better-sqlite3';
import { RtinferError } from '../errors.js';
import { RTINFER_VERSION } from '../version.js';
import { MIGRATIONS, SCHEMA_VERSION } from './migrations.js';
import type { NewRun, RunFilter, RunKind, RunStore, RunSummary, StoredRun } from './run-store.js';

const BUSY_TIMEOUT_MS = 10_000;

// Loaded on first use: commands that never open a store (info, predict, serve) do not load the native module.
let DatabaseClass: typeof Database | undefined;
function openDatabase(file: string, options: Database.Options): Database.Database {
  DatabaseClass ??= createRequire(import.meta.url)('better-sqlite3') as typeof Database;
  return new DatabaseClass(file, options);
}

type Db = Database.Database;

/** Maps SQLite's errors to the catalogue: damaged file, unwritable place, or rethrows. */
function storeError(file: string, error: unknown): RtinferError {
  if (error instanceof RtinferError) return error;
  const code = (error as { code?: string }).code ?? '';
  const message = (error as Error).message ?? String(error);
  if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT')) {
    return new RtinferError(
      'RTI_ERR_STORE_CORRUPT',
      `run store ${file} is not a valid rtinfer database (${message}); it was left as it is: ` +
        `move it away, or use --store PATH or --no-store`,
      { cause: error },
    );
  }
  if (
    code.startsWith('SQLITE_READONLY') ||
    code.startsWith('SQLITE_CANTOPEN') ||
    code === 'SQLITE_PERM' ||
    code === 'SQLITE_FULL' ||
    code.startsWith('SQLITE_IOERR') ||
    code === 'EACCES' ||
    code === 'EROFS' ||
    code === 'EPERM'
  ) {
    return new RtinferError(
      'RTI_ERR_STORE_UNWRITABLE',
      `cannot write the run store ${file} (${code}: ${message}): use --store PATH somewhere writable, or --no-store`,
      { cause: error },
    );
  }
  return new RtinferError('RTI_ERR_STORE_CORRUPT', `run store ${file}: ${message}`, { cause: error });
}

function checkVersion(db: Db, file: string): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    throw new RtinferError(
      'RTI_ERR_STORE_VERSION',
      `run store ${file} has schema version ${version}, ` +
        `newer than this rtinfer ${RTINFER_VERSION} knows (${SCHEMA_VERSION}); it was left as it is: ` +
        `upgrade rtinfer or use another --store`,
    );
  }
}

function migrate(db: Db, file: string): void {
  const version = (): number => db.pragma('user_version', { simple: true }) as number;
  checkVersion(db, file);
  if (version() === SCHEMA_VERSION) return;
  // IMMEDIATE takes the write lock first, so two processes opening an old store migrate it once.
  db.transaction(() => {
    for (let v = version(); v < SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v] as string);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}

interface Row {
  id: number;
  created_at: string;
  rtinfer: string;
  kind: string;
  scenario: string;
  model_label: string;
  model_path: string | null;
  model_sha256: string | null;
  setting_key: string;
  setting_text: string;
  label: string | null;
  started_at: string;
  valid: number | null;
  p50_ms: number | null;
  p90_ms: number | null;
  p99_ms: number | null;
  qps: number | null;
  cold_start_ms: number | null;
  git_commit: string | null;
  report?: string;
  settings?: string;
  env?: string;
  histogram?: string | null;
}

const SUMMARY_COLUMNS =
  'id, created_at, rtinfer, kind, scenario, model_label, model_path, model_sha256, setting_key, ' +
  'setting_text, label, started_at, valid, p50_ms, p90_ms, p99_ms, qps, cold_start_ms, git_commit';

export class SqliteRunStore implements RunStore {
  readonly location: string;
  #db: Db | null;

  /** Opens (creating the folder and file when `create`) and migrates the store at `file`. */
  constructor(file: string, options: { create?: boolean } = {}) {
    this.location = file;
    const create = options.create ?? true;
    if (!create && !existsSync(file)) {
      this.#db = null;
      return;
    }
    let db: Db | undefined;
    try {
      if (create) {
        try {
          makeDirSync(path.dirname(path.resolve(file)));
        } catch (error) {
          const e = error as NodeJS.ErrnoException;
          throw new RtinferError(
            'RTI_ERR_STORE_UNWRITABLE',
            `cannot create the folder of the run store ${file} (${e.code ?? e.message}): ` +
              `use --store PATH somewhere writable, or --no-store`,
            { cause: error },
          );
        }
      }
      db = openDatabase(file, { timeout: BUSY_TIMEOUT_MS, fileMustExist: !create });
      // The first statement reads the header: a file that is not a database fails here, unwritten;
      // a newer schema is refused before WAL mode rewrites the header.
      checkVersion(db, file);
      db.pragma('journal_mode = WAL');
      db.pragma('foreign_keys = ON');
      migrate(db, file);
      this.#db = db;
    } catch (error) {
      db?.close();
      throw storeError(file, error);
    }
  }

  #run<T>(fn: (db: Db) => T, empty: T): T {
    if (this.#db === null) return empty;
    try {
      return fn(this.#db);
    } catch (error) {
      throw storeError(this.location, error);
    }
  }

  async add(run: NewRun): Promise<number> {
    if (this.#db === null)
      throw new RtinferError('RTI_ERR_STORE_UNWRITABLE', `run store ${this.location} was opened for reading only`);
    return this.#run((db) => {
      const insert = db.prepare(
        `INSERT INTO runs (created_at, rtinfer, kind, scenario, model_label, model_path, model_sha256,
           setting_key, setting_text, label, started_at, valid,
           p50_ms, p90_ms, p99_ms, qps, cold_start_ms, report, settings, env, histogram, git_commit)
         VALUES (@createdAt, @rtinfer, @kind, @scenario, @modelLabel, @modelPath, @sha,
           @settingKey, @settingText, @label, @startedAt, @valid,
           @p50, @p90, @p99, @qps, @cold, @report, @settings, @env, @histogram, @git)`,
      );
      const tag = db.prepare('INSERT INTO run_tags (run_id, key, value) VALUES (?, ?, ?)');
      return db
        .transaction(() => {
          const info = insert.run({
            createdAt: new Date().toISOString(),
            rtinfer: RTINFER_VERSION,
            kind: run.kind,
            scenario: run.scenario,
            modelLabel: run.model.label,
            modelPath: run.model.path,
            sha: run.model.sha256,
            settingKey: run.setting.key,
            settingText: run.setting.text,
            label: run.label,
            startedAt: run.startedAt,
            valid: run.valid === null ? null : run.valid ? 1 : 0,
            p50: run.figures.p50Ms,
            p90: run.figures.p90Ms,
            p99: run.figures.p99Ms,
            qps: run.figures.qps,
            cold: run.figures.coldStartMs,
            report: JSON.stringify(run.report),
            settings: JSON.stringify(run.settings ?? null),
            env: JSON.stringify(run.env ?? null),
            histogram: run.histogram,
            git: run.gitCommit,
          });
          const id = Number(info.lastInsertRowid);
          for (const [k, v] of Object.entries(run.tags)) tag.run(id, k, v);
          return id;
        })
        .immediate();
    }, 0);
  }

  async get(id: number): Promise<StoredRun | undefined> {
    return this.#run((db) => {
      const row = db.prepare('SELECT * FROM runs WHERE id = ?').get(id) as Row | undefined;
      if (row === undefined) return undefined;
      const summary = this.#summary(db, row);
      return {
        ...summary,
        report: JSON.parse(row.report ?? 'null'),
        settings: JSON.parse(row.settings ?? 'null'),
        env: JSON.parse(row.env ?? 'null'),
        histogram: row.histogram ?? null,
      };
    }, undefined);
  }

  async list(filter: RunFilter = {}): Promise<RunSummary[]> {
    return this.#run((db) => {
      const where: string[] = [];
      const params: unknown[] = [];
      if (filter.kind !== undefined) {
        where.push('kind = ?');
        params.push(filter.kind);
      }
      if (filter.model !== undefined) {
        where.push("(model_label LIKE ? ESCAPE '\\' OR model_path LIKE ? ESCAPE '\\' OR model_sha256 LIKE ?)");
        const like = `%${filter.model.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
        params.push(like, like, `${filter.model.toLowerCase()}%`);
      }
      if (filter.label !== undefined) {
        where.push('label = ?');
        params.push(filter.label);
      }
      if (filter.scenario !== undefined) {
        where.push('scenario = ?');
        params.push(filter.scenario);
      }
      if (filter.settingKey !== undefined) {
        where.push('setting_key = ?');
        params.push(filter.settingKey);
      }
      if (filter.since !== undefined) {
        where.push('started_at >= ?');
        params.push(filter.since);
      }
      if (filter.until !== undefined) {
        where.push('started_at <= ?');
        params.push(filter.until);
      }
      for (const [k, v] of Object.entries(filter.tags ?? {})) {
        where.push('EXISTS (SELECT 1 FROM run_tags t WHERE t.run_id = runs.id AND t.key = ? AND t.value = ?)');
        params.push(k, v);
      }
      const whereClause = where.length ? `WHERE ${where.join(' AND ')}` : '';
      const sql = `SELECT ${SUMMARY_COLUMNS} FROM runs ${whereClause} ORDER BY id DESC LIMIT ?`;
      const rows = db.prepare(sql).all(...params, filter.limit ?? 100) as Row[];
      return rows.map((r) => this.#summary(db, r));
    }, []);
  }

  async remove(ids: readonly number[]): Promise<number> {
    return this.#run((db) => {
      const del = db.prepare('DELETE FROM runs WHERE id = ?');
      return db.transaction(() => ids.reduce((n, id) => n + del.run(id).changes, 0)).immediate();
    }, 0);
  }

  async close(): Promise<void> {
    this.#db?.close();
    this.#db = null;
  }

  #summary(db: Db, r: Row): RunSummary {
    const tags = Object.fromEntries(
      (
        db.prepare('SELECT key, value FROM run_tags WHERE run_id = ? ORDER BY key').all(r.id) as Array<{
          key: string;
          value: string;
        }>
      ).map((t) => [t.key, t.value]),
    );
    return {
      id: r.id,
      createdAt: r.created_at,
      rtinfer: r.rtinfer,
      kind: r.kind as RunKind,
      scenario: r.scenario,
      model: { label: r.model_label, path: r.model_path, sha256: r.model_sha256 },
      setting: { key: r.setting_key, text: r.setting_text },
      label: r.label,
      tags,
      gitCommit: r.git_commit,
      startedAt: r.started_at,
      valid: r.valid === null ? null : r.valid === 1,
      figures: { p50Ms: r.p50_ms, p90Ms: r.p90_ms, p99Ms: r.p99_ms, qps: r.qps, coldStartMs: r.cold_start_ms },
    };
  }
}
