/**
 * The run store's schema, as migrations applied in order; `PRAGMA user_version` holds how many have
 * run. A database with a higher version than this file knows was written by a newer rtinfer and is
 * refused (never downgraded or rewritten).
 */

export const MIGRATIONS: readonly string[] = [
  // 1: runs with their report, settings, environment, headline figures and histogram.
  `CREATE TABLE runs (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     created_at TEXT NOT NULL,
     rtinfer TEXT NOT NULL,
     kind TEXT NOT NULL,
     scenario TEXT NOT NULL,
     model_label TEXT NOT NULL,
     model_path TEXT,
     model_sha256 TEXT,
     setting_key TEXT NOT NULL,
     setting_text TEXT NOT NULL,
     label TEXT,
     started_at TEXT NOT NULL,
     valid INTEGER,
     p50_ms REAL, p90_ms REAL, p99_ms REAL, qps REAL, cold_start_ms REAL,
     report TEXT NOT NULL,
     settings TEXT NOT NULL,
     env TEXT NOT NULL,
     histogram TEXT
   );
   CREATE INDEX runs_started ON runs(started_at);
   CREATE INDEX runs_model ON runs(model_sha256, setting_key);
   CREATE INDEX runs_label ON runs(label);`,
  // 2: tags (--tag k=v) and the git commit of the working directory.
  `ALTER TABLE runs ADD COLUMN git_commit TEXT;
   CREATE TABLE run_tags (
     run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
     key TEXT NOT NULL,
     value TEXT NOT NULL,
     PRIMARY KEY (run_id, key)
   );
   CREATE INDEX run_tags_kv ON run_tags(key, value);`,
];

export const SCHEMA_VERSION = MIGRATIONS.length;
