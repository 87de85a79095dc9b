/**
 * The deployment files, checked without a Docker engine: docker-compose.yml is parsed and held to
 * the stack's rules, the Dockerfile and .dockerignore are read as text, the setup scripts are
 * syntax-checked with `sh -n`. Cross-checks tie them to the code: worker variables against the
 * config schema, emulator flags against its CLI, search attributes against the workflow's.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { parseWebhookServiceConfig, parseWorkerConfig, webhookServiceEnvSchema, workerEnvSchema } from '../../src/config.js';
import { CLI_FLAGS, envNameOf } from '../../src/emulator/cli-options.js';
import { PIPELINE_SEARCH_ATTRIBUTES } from '../../src/contract/search-attributes.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const readText = (path: string): string => readFileSync(`${root}/${path}`, 'utf8');

// ---- the parts of the Compose file these tests read ----
type Environment = Record<string, string | number | boolean | null> | string[];
interface Healthcheck {
  test?: string | string[];
  disable?: boolean;
}
interface PortMapping {
  target: number;
  published?: string | number;
  host_ip?: string;
  protocol?: string;
}
interface Service {
  image?: string;
  build?: unknown;
  restart?: string;
  profiles?: string[];
  depends_on?: Record<string, { condition: string }> | string[];
  environment?: Environment;
  env_file?: string | string[];
  healthcheck?: Healthcheck;
  ports?: (PortMapping | string)[];
  volumes?: string[];
  entrypoint?: string[];
  command?: string[];
  container_name?: string;
  stop_grace_period?: string;
  deploy?: { replicas?: number };
}
interface ComposeFile {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

const compose = parse(readText('docker-compose.yml')) as ComposeFile;
const services = compose.services;
const service = (name: string): Service => {
  const found = services[name];
  assert.ok(found, `service ${name} exists`);
  return found;
};

const ONE_SHOT_JOBS = ['temporal-schema', 'temporal-setup', 's3-setup'] as const;
const LONG_RUNNING = ['postgresql', 'temporal', 'temporal-ui', 's3', 'worker', 'emulator', 'webhooks'] as const;
/** Host ports the operations guide documents; `null` = a free host port per replica. */
const DOCUMENTED_PORTS: Record<string, { target: number; published: number | null }[]> = {
  temporal: [{ target: 7233, published: 7233 }],
  'temporal-ui': [{ target: 8080, published: 8080 }],
  worker: [
    { target: 9464, published: null },
    { target: 9465, published: null },
  ],
  webhooks: [{ target: 8090, published: 8090 }],
};

function environmentOf(svc: Service): Record<string, string> {
  const env = svc.environment ?? {};
  if (Array.isArray(env)) {
    return Object.fromEntries(env.map((entry) => {
      const at = entry.indexOf('=');
      return at < 0 ? [entry, ''] : [entry.slice(0, at), entry.slice(at + 1)];
    }));
  }
  return Object.fromEntries(Object.entries(env).map(([key, value]) => [key, value === null ? '' : String(value)]));
}

function dependenciesOf(svc: Service): Record<string, string> {
  const deps = svc.depends_on ?? {};
  // the short list form means "started", which waits for neither health nor completion
  if (Array.isArray(deps)) return Object.fromEntries(deps.map((name) => [name, 'service_started']));
  return Object.fromEntries(Object.entries(deps).map(([name, dep]) => [name, dep.condition]));
}

/** Compose's variable substitution: $$, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}. */
function interpolate(text: string, env: Readonly<Record<string, string | undefined>>): string {
  return text.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}/g, (match, name: string | undefined, op: string | undefined, arg: string | undefined) => {
    if (match === '$$' || name === undefined) return '$';
    const value = env[name];
    const unset = op?.startsWith(':') ? value === undefined || value === '' : value === undefined;
    if (op === ':-' || op === '-') return unset ? (arg ?? '') : (value ?? '');
    if (op === ':?' || op === '?') {
      if (unset) throw new Error(`${name} is required: ${arg ?? ''}`);
      return value ?? '';
    }
    return value ?? '';
  });
}

/** Variable names a text refers to with ${...}. */
function referencedVariables(text: string): Set<string> {
  return new Set([...text.replace(/\$\$/g, '').matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!));
}

/** KEY=VALUE lines; comments and blank lines skipped. */
function parseDotenv(text: string): Record<string, string> {
  const entries: [string, string][] = [];
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const at = trimmed.indexOf('=');
    assert.ok(at > 0, `"${trimmed}" is KEY=VALUE`);
    entries.push([trimmed.slice(0, at), trimmed.slice(at + 1)]);
  }
  return Object.fromEntries(entries);
}

/** Compose durations such as 45s, 1m30s, 500ms. */
function durationMs(text: string): number {
  const units: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(us|ms|s|m|h)/g)];
  assert.ok(parts.length > 0 && parts.map((p) => p[0]).join('') === text, `"${text}" is a duration`);
  return parts.reduce((total, p) => total + Number(p[1]) * units[p[2]!]!, 0);
}

/** Whether a version satisfies a range of space-separated comparators (>=, >, <=, <, =), alternatives joined by ||. */
function satisfies(version: string, range: string): boolean {
  const toNumbers = (v: string): number[] => {
    const parts = v.split('.').map(Number);
    return [parts[0] ?? 0, parts[1] ?? 0, parts[2] ?? 0];
  };
  const compare = (a: number[], b: number[]): number => a.reduce((result, n, i) => result || n - b[i]!, 0);
  const have = toNumbers(version);
  return range.split('||').some((alternative) =>
    alternative.trim().split(/\s+/).every((comparator) => {
      const match = /^(>=|<=|>|<|=)?(\d+(?:\.\d+){0,2})$/.exec(comparator);
      assert.ok(match, `comparator "${comparator}" understood`);
      const order = compare(have, toNumbers(match[2]!));
      switch (match[1] ?? '=') {
        case '>=': return order >= 0;
        case '>': return order > 0;
        case '<=': return order <= 0;
        case '<': return order < 0;
        default: return order === 0;
      }
    }),
  );
}

const SECRET_NAME = /PASSWORD|PWD|SECRET|TOKEN|API_KEY|ACCESS_KEY|PRIVATE_KEY|CREDENTIAL/i;
/** `${VAR}` or `${VAR:?message}`: a reference that cannot fall back to a value written in the file. */
const BARE_REFERENCE = /^\$\{[A-Za-z_][A-Za-z0-9_]*(?::?\?[^}]*)?\}$/;
const SECRET_SHAPED = [/AKIA[0-9A-Z]{16}/, /\b[0-9a-f]{32,}\b/i, /-----BEGIN [A-Z ]*PRIVATE KEY-----/, /\bsk-[A-Za-z0-9]{20,}/];

function allStrings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(allStrings);
  if (value && typeof value === 'object') return Object.values(value).flatMap(allStrings);
  return [];
}

const example = parseDotenv(readText('deploy/worker.env.example'));
const schemaKeys = Object.keys(workerEnvSchema.shape);
const requiredKeys = Object.entries(workerEnvSchema.shape)
  .filter(([, schema]) => !(schema as { safeParse(v: unknown): { success: boolean } }).safeParse(undefined).success)
  .map(([key]) => key);

describe('docker-compose.yml', () => {
  it('defines the stack: database, Temporal and its jobs, Web UI, local S3 store, workers, emulator, webhook receiver', () => {
    assert.deepEqual(Object.keys(services).sort(), [...LONG_RUNNING, ...ONE_SHOT_JOBS].sort());
  });

  it('runs Temporal on PostgreSQL, schemas prepared by a one-shot job before the server starts', () => {
    const temporal = service('temporal');
    const env = environmentOf(temporal);
    assert.equal(env.DB, 'postgres12');
    assert.equal(env.POSTGRES_SEEDS, 'postgresql');
    assert.equal(env.DB_PORT, '5432');
    assert.equal(env.DBNAME, 'temporal');
    assert.equal(env.VISIBILITY_DBNAME, 'temporal_visibility', 'visibility in PostgreSQL too: no Elasticsearch needed');
    assert.equal(env.ENABLE_ES, undefined);
    assert.deepEqual(dependenciesOf(temporal), { postgresql: 'service_healthy', 'temporal-schema': 'service_completed_successfully' });

    const schemaEnv = environmentOf(service('temporal-schema'));
    assert.equal(schemaEnv.SQL_HOST, 'postgresql');
    assert.equal(schemaEnv.TEMPORAL_DB, env.DBNAME);
    assert.equal(schemaEnv.TEMPORAL_VISIBILITY_DB, env.VISIBILITY_DBNAME);
    assert.equal(schemaEnv.SQL_USER, env.POSTGRES_USER);
    assert.equal(environmentOf(service('postgresql')).POSTGRES_USER, env.POSTGRES_USER);
    // one password, one source
    const password = '${TEMPORAL_DB_PASSWORD:?set TEMPORAL_DB_PASSWORD in .env}';
    assert.deepEqual([environmentOf(service('postgresql')).POSTGRES_PASSWORD, schemaEnv.SQL_PASSWORD, env.POSTGRES_PWD], [password, password, password]);

    assert.ok(service('postgresql').volumes?.includes('postgresql-data:/var/lib/postgresql/data'), 'database on a named volume');
  });

  it('gives every long-running service a health check and restart policy; one-shot jobs neither restart nor report health', () => {
    for (const name of LONG_RUNNING) {
      const svc = service(name);
      assert.ok(svc.healthcheck && !svc.healthcheck.disable, `${name} has a health check`);
      const probe = svc.healthcheck.test;
      assert.ok(Array.isArray(probe) ? probe.length > 1 && ['CMD', 'CMD-SHELL'].includes(probe[0]!) : typeof probe === 'string' && probe.length > 0, `${name}: usable health check command`);
      assert.equal(svc.restart, 'unless-stopped', `${name} restarts`);
    }
    for (const name of ONE_SHOT_JOBS) {
      const svc = service(name);
      assert.equal(svc.healthcheck, undefined, `${name} is a job`);
      assert.equal(svc.restart, 'no', `${name} runs once: a failure must stop the stack, not loop`);
    }
  });

  it('waits on health for servers and on successful completion for jobs', () => {
    const jobs = new Set<string>(ONE_SHOT_JOBS);
    const waitedOnJobs = new Set<string>();
    for (const [name, svc] of Object.entries(services)) {
      for (const [dependency, condition] of Object.entries(dependenciesOf(svc))) {
        assert.ok(services[dependency], `${name} depends on an existing service (${dependency})`);
        assert.equal(services[dependency]!.profiles, undefined, `${name} must not depend on the profile-only ${dependency}`);
        const expected = jobs.has(dependency) ? 'service_completed_successfully' : 'service_healthy';
        assert.equal(condition, expected, `${name} → ${dependency}`);
        if (jobs.has(dependency)) waitedOnJobs.add(dependency);
      }
    }
    assert.deepEqual([...waitedOnJobs].sort(), [...jobs].sort(), 'every job gates something');
    assert.deepEqual(dependenciesOf(service('worker')), {
      temporal: 'service_healthy',
      'temporal-setup': 'service_completed_successfully',
      's3-setup': 'service_completed_successfully',
    });
    assert.deepEqual(dependenciesOf(service('temporal-setup')), { temporal: 'service_healthy' });
    assert.deepEqual(dependenciesOf(service('s3-setup')), { s3: 'service_healthy' });
  });

  it('registers every search attribute the workflows write, with the right type', () => {
    const setup = service('temporal-setup');
    const declared = Object.fromEntries((environmentOf(setup).SEARCH_ATTRIBUTES ?? '').split(/\s+/).filter(Boolean).map((pair) => pair.split('=') as [string, string]));
    assert.deepEqual(declared, { ...PIPELINE_SEARCH_ATTRIBUTES });
    assert.ok(setup.image?.startsWith('temporalio/admin-tools:'));
    const script = readText('deploy/temporal/setup-namespace.sh');
    assert.match(script, /temporal operator search-attribute create [^\n]*--name "\$name" --type "\$type"/);
    assert.match(script, /temporal operator namespace create /);
    assert.equal(environmentOf(setup).TEMPORAL_NAMESPACE, '${TEMPORAL_NAMESPACE:-default}', 'the namespace the workers use (same .env entry)');
  });

  it('runs setup scripts that exist in the mounted folder and parse as POSIX shell', () => {
    for (const name of ONE_SHOT_JOBS) {
      const svc = service(name);
      const [shell, scriptPath] = svc.entrypoint ?? [];
      assert.equal(shell, '/bin/sh', `${name} runs its script with sh`);
      const mount = (svc.volumes ?? []).map((v) => v.split(':')).find(([, target]) => scriptPath?.startsWith(`${target}/`));
      assert.ok(mount, `${name}: ${scriptPath} is under a mounted folder`);
      assert.equal(mount[2], 'ro', `${name} mounts its scripts read-only`);
      const hostPath = `${mount[0]!.replace(/^\.\//, '')}${scriptPath!.slice(mount[1]!.length)}`;
      assert.ok(existsSync(`${root}/${hostPath}`), `${hostPath} exists`);
      const check = spawnSync('sh', ['-n', `${root}/${hostPath}`], { encoding: 'utf8' });
      assert.equal(check.status, 0, `${hostPath}: ${check.stderr}`);
    }
  });

  it('passes the worker only variables its configuration knows, and the stack fills every required one', () => {
    const worker = service('worker');
    assert.deepEqual([worker.env_file].flat(), ['.env'], 'secrets and deployment choices come from .env');
    const env = environmentOf(worker);
    for (const key of Object.keys(env)) assert.ok(schemaKeys.includes(key), `${key} is read by src/config.ts`);
    for (const key of ['TEMPORAL_ADDRESS', 'DEPLOYMENT_REGISTRY_PATH', 'WORKFLOW_BUNDLE_PATH', 'METRICS_PORT', 'TEMPORAL_METRICS_PORT', 'SHUTDOWN_GRACE_MS']) {
      assert.ok(key in env, `compose sets ${key}`);
    }
    assert.deepEqual(requiredKeys.sort(), ['R2_ACCESS_KEY_ID', 'R2_BUCKET', 'R2_ENDPOINT', 'R2_SECRET_ACCESS_KEY', 'RUNCOMFY_TOKEN']);
    for (const key of requiredKeys) {
      assert.ok(!(key in env), `${key} comes from .env, not from the compose file`);
      assert.ok(example[key], `the example .env gives ${key} a placeholder`);
    }

    // A .env made from the example plus the compose values is a valid worker configuration.
    const resolved = Object.fromEntries(Object.entries(env).map(([key, value]) => [key, interpolate(value, example)]));
    const config = parseWorkerConfig({ ...example, ...resolved });
    assert.equal(config.temporal.address, 'temporal:7233', 'an empty TEMPORAL_ADDRESS means the stack server');
    assert.equal(config.store.endpoint, 'http://s3:7070', 'the example targets the local store out of the box');
    assert.equal(config.worker.workflowBundlePath, '/app/dist/workflow-bundle.js');
    assert.equal(config.registryPath, '/app/config/deployments.json');
    assert.equal(parseWorkerConfig({ ...example, ...resolved, TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233' }).temporal.address, 'ns.acct.tmprl.cloud:7233');
    assert.equal(interpolate(env.TEMPORAL_ADDRESS!, { TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233' }), 'ns.acct.tmprl.cloud:7233', 'Temporal Cloud from .env alone');
  });

  it('documents every worker variable and every variable the compose file reads in the example .env', () => {
    const text = readText('deploy/worker.env.example');
    const listed = new Set([...text.matchAll(/^#?\s?([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]!));
    for (const key of schemaKeys) assert.ok(listed.has(key), `example lists ${key}`);
    for (const name of referencedVariables(readText('docker-compose.yml'))) assert.ok(name in example, `example sets ${name}, which docker-compose.yml reads`);
    // Compose refuses to start without them, so a fresh copy of the example must pass interpolation.
    for (const svc of Object.values(services)) for (const text of allStrings(svc)) interpolate(text, example);
  });

  it('writes no secret into the compose file or the example: secrets are references into .env', () => {
    for (const [name, svc] of Object.entries(services)) {
      for (const [key, value] of Object.entries(environmentOf(svc))) {
        if (SECRET_NAME.test(key)) assert.match(value, BARE_REFERENCE, `${name}.${key} must reference .env without a fallback value`);
      }
    }
    for (const text of allStrings(compose)) {
      for (const shape of SECRET_SHAPED) assert.doesNotMatch(text, shape, 'nothing in the compose file looks like a credential');
    }
    const workerEnv = environmentOf(service('worker'));
    for (const key of ['RUNCOMFY_TOKEN', 'R2_ACCESS_KEY_ID', 'R2_SECRET_ACCESS_KEY', 'TEMPORAL_API_KEY']) assert.ok(!(key in workerEnv), `${key} only via env_file`);

    for (const [key, value] of Object.entries(example)) {
      if (SECRET_NAME.test(key)) assert.ok(value === '' || value.startsWith('replace-with-'), `example ${key} is a placeholder, not a secret`);
      for (const shape of SECRET_SHAPED) assert.doesNotMatch(value, shape);
    }
  });

  it('keeps the emulator behind its own profile, started with flags its CLI accepts', () => {
    for (const [name, svc] of Object.entries(services)) {
      if (name !== 'emulator' && name !== 'webhooks') assert.equal(svc.profiles, undefined, `${name} always runs`);
    }
    const emulator = service('emulator');
    assert.deepEqual(emulator.profiles, ['emulator']);
    assert.deepEqual(emulator.build, service('worker').build, 'same image as the worker');
    assert.equal(emulator.image, service('worker').image);

    const [node, entry, ...args] = emulator.command ?? [];
    assert.deepEqual([node, entry], ['node', 'dist/emulator/main.js']);
    const flags = new Map<string, string>();
    for (let i = 0; i < args.length; i += 2) {
      const flag = args[i]!.replace(/^--/, '');
      assert.ok(flag in CLI_FLAGS, `--${flag} is an emulator flag`);
      flags.set(flag, args[i + 1]!);
    }
    assert.equal(flags.get('host'), '0.0.0.0', 'reachable from the worker containers');
    assert.equal(flags.get('public-url'), `http://emulator:${flags.get('port')}`, 'file URLs name a host the workers resolve');
    assert.ok(JSON.stringify(emulator.healthcheck?.test).includes(`127.0.0.1:${flags.get('port')}/__admin/health`));
    assert.equal(environmentOf(emulator)[envNameOf('token')], '${RUNCOMFY_TOKEN:?set RUNCOMFY_TOKEN in .env}', 'accepts the token the workers send');
    // Its admin API rewrites its behaviour: never published, and guarded by a token from .env.
    assert.equal(emulator.ports, undefined, 'the emulator publishes no port');
    assert.equal(emulator.command?.includes('--admin-token'), false, 'no admin token on the command line');
    assert.match(environmentOf(emulator)[envNameOf('admin-token')] ?? '', BARE_REFERENCE, 'the admin token comes from .env');
    assert.ok(dockerfileCopies().some(({ destination }) => `/app/${destination.replace(/^\.\//, '')}` === flags.get('workflows')), 'its workflows folder is in the image');
    assert.ok(readText('docker-compose.yml').includes(`RUNCOMFY_BASE_URL=http://emulator:${flags.get('port')}`), 'a comment says how to point the workers at it');
  });

  it('runs the webhook receiver behind its own profile, from the worker image, with variables its configuration knows', () => {
    const webhooks = service('webhooks');
    assert.deepEqual(webhooks.profiles, ['webhooks'], 'off unless asked for: it needs WEBHOOK_SECRETS');
    assert.deepEqual(webhooks.build, service('worker').build, 'same image as the worker');
    assert.equal(webhooks.image, service('worker').image);
    assert.deepEqual(webhooks.command, ['node', 'dist/webhooks/main.js']);
    assert.ok(existsSync(`${root}/src/webhooks/main.ts`), 'its entry point is built into dist/');
    assert.deepEqual([webhooks.env_file].flat(), ['.env'], 'secrets and payload keys come from .env, as the workers get them');
    const env = environmentOf(webhooks);
    const known = new Set(Object.keys(webhookServiceEnvSchema.shape));
    for (const key of Object.keys(env)) assert.ok(known.has(key), `${key} is a receiver variable`);
    const port = Number(env.WEBHOOK_PORT);
    assert.ok(JSON.stringify(webhooks.healthcheck?.test).includes(`127.0.0.1:${port}/healthz`), 'the probe asks the receiver');
    const resolved = Object.fromEntries(Object.entries(env).map(([key, value]) => [key, interpolate(value, example)]));
    const config = parseWebhookServiceConfig({ ...example, ...resolved, WEBHOOK_SECRETS: 'x'.repeat(32) });
    assert.equal(config.port, port);
    assert.equal(config.temporal.address, 'temporal:7233');
    assert.throws(() => parseWebhookServiceConfig({ ...example, ...resolved }), /WEBHOOK_SECRETS: is required/, 'refuses to start without secrets');
  });

  it('scales workers and lets them drain before Docker kills them', () => {
    const worker = service('worker');
    assert.ok(Number.isInteger(worker.deploy?.replicas) && worker.deploy!.replicas! >= 2, 'more than one worker by default');
    assert.equal(worker.container_name, undefined, 'a fixed name would forbid --scale');
    const graceMs = Number(environmentOf(worker).SHUTDOWN_GRACE_MS);
    assert.ok(graceMs > 0);
    assert.ok(durationMs(worker.stop_grace_period ?? '10s') >= graceMs + 10_000, 'stop_grace_period leaves 10 s beyond SHUTDOWN_GRACE_MS');
  });

  it('publishes exactly the documented ports, on loopback, none fixed for the scaled workers', () => {
    const published: Record<string, { target: number; published: number | null }[]> = {};
    for (const [name, svc] of Object.entries(services)) {
      if (!svc.ports) continue;
      published[name] = svc.ports.map((port) => {
        assert.ok(typeof port === 'object', `${name}: long port syntax`);
        assert.equal(port.host_ip, '127.0.0.1', `${name}:${port.target} listens on loopback only`);
        return { target: port.target, published: port.published === undefined ? null : Number(port.published) };
      });
    }
    assert.deepEqual(published, DOCUMENTED_PORTS);
    const guide = readText('docs/operations.md');
    for (const port of Object.values(DOCUMENTED_PORTS).flat()) assert.ok(guide.includes(String(port.target)), `docs/operations.md mentions ${port.target}`);
    assert.equal(environmentOf(service('worker')).METRICS_PORT, '9464');
    assert.equal(environmentOf(service('worker')).TEMPORAL_METRICS_PORT, '9465');
  });

  it('pins every image to a version, and Temporal server and tools to the same release', () => {
    for (const [name, svc] of Object.entries(services)) {
      assert.ok(svc.image, `${name} names its image`);
      const [, tag = ''] = svc.image.split('@')[0]!.split(/:(?=[^/]+$)/);
      assert.notEqual(tag, '', `${name}: ${svc.image} has a tag`);
      assert.notEqual(tag, 'latest', `${name}: not latest`);
      if (!svc.build) assert.match(tag, /^v?\d+\.\d+(\.\d+)?/, `${name}: ${svc.image} pins at least major.minor`);
    }
    const serverVersion = service('temporal').image!.split(':')[1]!;
    assert.match(serverVersion, /^1\.29\.\d+$/);
    for (const name of ['temporal-schema', 'temporal-setup']) assert.ok(service(name).image!.split(':')[1]!.startsWith(`${serverVersion}-`), `${name} tools match server ${serverVersion}`);
    assert.match(service('postgresql').image!, /^postgres:16\.\d+/);
    assert.doesNotMatch(readText('docker-compose.yml'), /^\s*image:\s*\S*minio/im, 'MinIO is AGPL');
  });

  it('keeps data on named volumes', () => {
    const declared = Object.keys(compose.volumes ?? {});
    assert.deepEqual(declared.sort(), ['postgresql-data', 's3-data']);
    const used = Object.values(services).flatMap((svc) => (svc.volumes ?? []).map((v) => v.split(':')[0]!)).filter((source) => !source.startsWith('.') && !source.startsWith('/'));
    assert.deepEqual([...new Set(used)].sort(), declared.sort());
  });
});

// ---- Dockerfile ----
interface Instruction {
  keyword: string;
  args: string;
}

function dockerfileInstructions(): Instruction[] {
  const logical = readText('Dockerfile').replace(/\\\n/g, ' ').split('\n').map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#'));
  return logical.map((line) => {
    const [keyword = '', ...rest] = line.split(/\s+/);
    return { keyword: keyword.toUpperCase(), args: rest.join(' ') };
  });
}

/** Instructions of the last stage: what the image runs. */
function finalStage(): Instruction[] {
  const all = dockerfileInstructions();
  const lastFrom = all.map((i) => i.keyword).lastIndexOf('FROM');
  return all.slice(lastFrom);
}

function dockerfileCopies(): { sources: string[]; destination: string; fromStage: boolean }[] {
  return dockerfileInstructions()
    .filter((i) => i.keyword === 'COPY')
    .map((i) => {
      const words = i.args.split(/\s+/);
      const fromStage = words.some((w) => w.startsWith('--from='));
      const paths = words.filter((w) => !w.startsWith('--'));
      return { sources: paths.slice(0, -1), destination: paths.at(-1)!, fromStage };
    });
}

describe('Dockerfile', () => {
  it('runs as a non-root user', () => {
    const users = finalStage().filter((i) => i.keyword === 'USER').map((i) => i.args.split(':')[0]!);
    assert.ok(users.length > 0, 'the final stage sets USER');
    assert.ok(!['root', '0'].includes(users.at(-1)!), `runs as ${users.at(-1)}`);
  });

  it('uses a Node 24 LTS release inside package.json engines', () => {
    const engines = (JSON.parse(readText('package.json')) as { engines: { node: string } }).engines.node;
    const args = Object.fromEntries(dockerfileInstructions().filter((i) => i.keyword === 'ARG' && i.args.includes('=')).map((i) => i.args.split('=') as [string, string]));
    const froms = dockerfileInstructions().filter((i) => i.keyword === 'FROM').map((i) => interpolate(i.args.split(/\s+/)[0]!, args));
    assert.ok(froms.length >= 2, 'multi-stage');
    for (const image of froms) {
      const match = /^node:(\d+\.\d+\.\d+)-(bookworm|trixie|bullseye)(-slim)?$/.exec(image);
      assert.ok(match, `${image}: an exact Node release on Debian (Temporal's native bridge needs glibc)`);
      assert.ok(satisfies(match[1]!, engines), `Node ${match[1]} satisfies "${engines}"`);
      assert.equal(match[1]!.split('.')[0], '24', `${image}: the image runs the Node LTS the project provisions (scripts/with-node.sh)`);
    }
    assert.equal(satisfies('20.20.2', engines), false, 'Node 20 (end of life) is outside engines: the check can fail');
  });

  it('builds with npm ci and npm run build, ships without dev dependencies, starts the worker and checks its metrics', () => {
    const runs = dockerfileInstructions().filter((i) => i.keyword === 'RUN').map((i) => i.args);
    assert.ok(runs.some((r) => /\bnpm ci\b/.test(r)));
    assert.ok(runs.some((r) => /\bnpm run build\b/.test(r)));
    assert.ok(runs.some((r) => /\bnpm prune --omit=dev\b/.test(r)));
    const stage = finalStage();
    assert.equal(stage.find((i) => i.keyword === 'CMD')?.args, '["node", "dist/worker.js"]');
    const health = stage.find((i) => i.keyword === 'HEALTHCHECK')?.args ?? '';
    assert.match(health, /process\.env\.METRICS_PORT/);
    assert.match(health, /\/metrics/);
    const env = stage.filter((i) => i.keyword === 'ENV').map((i) => i.args).join(' ');
    assert.match(env, /WORKFLOW_BUNDLE_PATH=\/app\/dist\/workflow-bundle\.js/);
    // the bundle the image points at is the one `npm run build` writes
    assert.match((JSON.parse(readText('package.json')) as { scripts: Record<string, string> }).scripts.build ?? '', /scripts\/build-workflow-bundle\.ts/);
    assert.match(readText('scripts/build-workflow-bundle.ts'), /'dist\/workflow-bundle\.js'/);
  });
});

describe('.dockerignore', () => {
  const patterns = readText('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  const included = patterns.filter((p) => p.startsWith('!')).map((p) => p.slice(1).replace(/\/$/, ''));
  const isIncluded = (path: string): boolean => included.some((p) => path === p || path.startsWith(`${p}/`));

  it('starts from nothing and never lets .env into the build context', () => {
    assert.ok(['*', '**'].includes(patterns[0]!), 'allow-list');
    for (const path of ['.env', '.env.local', 'node_modules', 'dist', 'results', '.git']) assert.ok(!isIncluded(path), `${path} stays out`);
  });

  it('lets in everything the Dockerfile copies from the context', () => {
    const sources = dockerfileCopies().filter((c) => !c.fromStage).flatMap((c) => c.sources);
    assert.ok(sources.length > 0);
    for (const source of sources) {
      assert.ok(isIncluded(source.replace(/^\.\//, '')), `${source} is in the build context`);
      assert.ok(existsSync(`${root}/${source}`), `${source} exists`);
    }
  });
});
