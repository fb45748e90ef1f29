/**
 * The Dockerfile says what the issue asks of the image: stages, production dependencies only, the
 * onnxruntime install skip, a non-root user matching deploy's securityContext, `rtinfer serve` as
 * the exec-form entrypoint with flags serve accepts, a HEALTHCHECK on the v2 ready route. Building
 * the image needs a Docker daemon and the node base images, which this machine does not have: that
 * test is skipped with the reason.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { parseCommand } from '../../src/cli/args.js';
import { relaunchFlags, SERVER_V8_FLAGS } from '../../src/cli/relaunch.js';
import { SERVE_COMMAND } from '../../src/cli/serve.js';
import { DEPLOY_DEFAULTS } from '../../src/deploy/deploy-spec.js';
import { CONTAINER_UID } from '../../src/deploy/pod.js';
import { ROOT } from '../helpers/models.js';

interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  from: string;
  name: string | null;
  body: Instruction[];
}

/** Instructions (continuations joined, comments dropped) grouped by stage. */
function parseDockerfile(text: string): { args: Instruction[]; stages: Stage[] } {
  const joined = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const out: { args: Instruction[]; stages: Stage[] } = { args: [], stages: [] };
  for (const line of joined) {
    const m = /^(\w+)\s+(.*)$/.exec(line);
    assert.ok(m, `unparsable line: ${line}`);
    const ins = { op: (m[1] as string).toUpperCase(), args: (m[2] as string).trim() };
    if (ins.op === 'FROM') {
      const f = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      assert.ok(f, `bad FROM: ${ins.args}`);
      out.stages.push({ from: f[1] as string, name: f[2] ?? null, body: [] });
    } else if (out.stages.length === 0) out.args.push(ins);
    else out.stages[out.stages.length - 1]?.body.push(ins);
  }
  return out;
}

const FILE = path.join(ROOT, 'Dockerfile');
const df = parseDockerfile(readFileSync(FILE, 'utf8'));
const final = df.stages[df.stages.length - 1] as Stage;
const all = (s: Stage, op: string): Instruction[] => s.body.filter((i) => i.op === op);
const one = (s: Stage, op: string): Instruction => {
  const list = all(s, op);
  assert.equal(list.length, 1, `expected one ${op} in stage ${s.name}`);
  return list[0] as Instruction;
};

test('multi-stage: a build stage, a production-dependencies stage and a slim runtime', () => {
  assert.deepEqual(
    df.stages.map((s) => s.name),
    ['build', 'prod-deps', 'runtime'],
  );
  assert.match(final.from, /bookworm-slim$/);
  // The runtime's node_modules come from the stage that installed production dependencies only.
  const copies = all(final, 'COPY').map((c) => c.args);
  assert.ok(copies.includes('--from=prod-deps /app/node_modules ./node_modules'), copies.join('; '));
  assert.ok(copies.includes('--from=build /app/dist ./dist'));
  const prod = df.stages.find((s) => s.name === 'prod-deps') as Stage;
  assert.match(
    all(prod, 'RUN')
      .map((r) => r.args)
      .join(' '),
    /npm ci --omit=dev/,
  );
  assert.equal(
    all(final, 'RUN').some((r) => /npm (ci|install)/.test(r.args)),
    false,
    'nothing installed in the runtime stage',
  );
});

test("onnxruntime-node's install script (a CUDA download) cannot run in any stage: every npm ci ignores scripts, with ONNXRUNTIME_NODE_INSTALL=skip set before it", () => {
  let installs = 0;
  for (const s of df.stages) {
    const firstCi = s.body.findIndex((i) => i.op === 'RUN' && /npm ci/.test(i.args));
    if (firstCi < 0) continue;
    installs++;
    for (const i of s.body)
      if (i.op === 'RUN' && /npm (ci|install)/.test(i.args))
        assert.match(i.args, /npm (ci|install)[^&]*--ignore-scripts/, `stage ${s.name}: ${i.args}`);
    const env = s.body.findIndex((i) => i.op === 'ENV' && /(^|\s)ONNXRUNTIME_NODE_INSTALL=skip(\s|$)/.test(i.args));
    assert.ok(env >= 0 && env < firstCi, `stage ${s.name}: ONNXRUNTIME_NODE_INSTALL=skip after npm ci`);
    // npm rebuild runs install scripts: only the packages that need theirs.
    for (const i of s.body)
      if (i.op === 'RUN' && /npm rebuild/.test(i.args))
        assert.doesNotMatch(i.args, /onnxruntime/, `stage ${s.name}: ${i.args}`);
  }
  assert.ok(installs >= 2, 'the build and prod-deps stages install');
  // Outside Docker, npm 11.16+ reads the same decision from package.json.
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    allowScripts?: Record<string, boolean>;
  };
  assert.equal(pkg.allowScripts?.['onnxruntime-node'], false);
});

test('the sources the build stage copies exist and are not excluded by .dockerignore', () => {
  const ignored = readFileSync(path.join(ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  for (const s of df.stages) {
    for (const c of all(s, 'COPY')) {
      if (c.args.startsWith('--from=')) continue;
      const parts = c.args.split(/\s+/).filter((p) => !p.startsWith('--'));
      for (const src of parts.slice(0, -1)) {
        assert.ok(existsSync(path.join(ROOT, src)), `COPY ${src}: missing`);
        assert.equal(ignored.includes(src), false, `COPY ${src}: excluded by .dockerignore`);
      }
    }
  }
});

test("a non-root numeric user, the one deploy's securityContext runs as", () => {
  assert.equal(one(final, 'USER').args, `${CONTAINER_UID}:${CONTAINER_UID}`);
  assert.match(
    all(final, 'RUN')
      .map((r) => r.args)
      .join(' '),
    new RegExp(`useradd .*--uid ${CONTAINER_UID}`),
  );
});

test('exec-form entrypoint runs the built CLI, and the default command is a serve that rtinfer accepts', () => {
  const entry = JSON.parse(one(final, 'ENTRYPOINT').args) as string[];
  // serve's heap flags given to node itself: no child process in the container (relaunch.ts).
  assert.deepEqual(entry, ['node', ...SERVER_V8_FLAGS, '/app/dist/cli/main.js']);
  assert.deepEqual(relaunchFlags(entry.slice(1, -1), {}, 'linux'), []);
  const bin = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> })
    .bin['rtinfer'];
  assert.equal(`/app/${bin}`, entry.at(-1));
  const cmd = JSON.parse(one(final, 'CMD').args) as string[];
  assert.equal(cmd[0], 'serve');
  const { values } = parseCommand(SERVE_COMMAND, cmd.slice(1));
  assert.equal(values['port'], String(DEPLOY_DEFAULTS.httpPort));
  assert.equal(values['grpc-port'], String(DEPLOY_DEFAULTS.grpcPort));
  assert.equal(values['health-port'], String(DEPLOY_DEFAULTS.healthPort));
  assert.equal(values['host'], '0.0.0.0');
  assert.deepEqual(one(final, 'EXPOSE').args.split(/\s+/), [
    String(DEPLOY_DEFAULTS.httpPort),
    String(DEPLOY_DEFAULTS.grpcPort),
    String(DEPLOY_DEFAULTS.healthPort),
  ]);
});

test("HEALTHCHECK asks the v2 ready route on the health thread's port, in exec form", () => {
  const h = one(final, 'HEALTHCHECK').args;
  const m = /CMD\s+(\[.*\])$/.exec(h);
  assert.ok(m, h);
  const argv = JSON.parse(m[1] as string) as string[];
  assert.equal(argv[0], 'node');
  assert.match(argv.join(' '), new RegExp(`http://127\\.0\\.0\\.1:${DEPLOY_DEFAULTS.healthPort}/v2/health/ready`));
  assert.match(h, /--start-period=\d+s/);
});

test('the image builds (needs a Docker daemon and the node base images)', (t) => {
  if (!existsSync('/var/run/docker.sock')) {
    t.skip(
      'no Docker daemon here (and no registry to pull node:20-bookworm from): image build not tested, see README "Scaling out"',
    );
    return;
  }
  t.skip(
    'a Docker daemon is present, but building pulls base images from a registry: run `docker build -t rtinfer:0.1.0 .` by hand',
  );
});

test('everything src/ imports is a production dependency (the runtime image has no others)', async () => {
  const { readdirSync } = await import('node:fs');
  const { builtinModules } = await import('node:module');
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
  };
  const files = (readdirSync(path.join(ROOT, 'src'), { recursive: true }) as string[]).filter((f) => f.endsWith('.ts'));
  const missing = new Set<string>();
  for (const f of files) {
    const text = readFileSync(path.join(ROOT, 'src', f), 'utf8');
    for (const m of text.matchAll(
      /^\s*(?:import|export)\s(?!type\s)[^'"]*?from\s+'([^'.][^']*)'|import\(\s*'([^'.][^']*)'\s*\)/gm,
    )) {
      const spec = (m[1] ?? m[2]) as string;
      if (spec.startsWith('node:') || builtinModules.includes(spec)) continue;
      const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : (spec.split('/')[0] as string);
      if (!(name in pkg.dependencies)) missing.add(`${name} (${f})`);
    }
  }
  assert.deepEqual([...missing], []);
});
