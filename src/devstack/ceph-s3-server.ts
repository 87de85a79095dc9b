import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getFreePorts, waitUntil } from './ports.js';
import { runToCompletion, SupervisedProcess } from './supervised-process.js';
import { resolveCephBinaries } from './tool-paths.js';

/** Fixed credentials of the local S3 server: it listens on loopback only and holds test data. */
export const LOCAL_S3_CREDENTIALS = { accessKeyId: 'rcp-local-access-key', secretAccessKey: 'rcp-local-secret-key' } as const;

export interface S3ServerOptions {
  /** Bucket to create (default `pipeline-outputs`). */
  bucket?: string;
  /**
   * `memory` keeps objects in RAM (memstore, fast, for tests); `file` uses BlueStore on a sparse
   * file in `workDir`, for multi-GiB copy tests.
   */
  storage?: 'memory' | 'file';
  /** Capacity of the object store in bytes (default 4 GiB in memory, 16 GiB on file). */
  capacityBytes?: number;
  /** Folder for the cluster's state and logs; a temporary one (removed on stop) by default. */
  workDir?: string;
  port?: number;
  startTimeoutMs?: number;
}

/** A running single-node Ceph RADOS Gateway: a real S3 server on loopback. */
export interface S3Server {
  readonly endpoint: string;
  readonly region: string;
  readonly bucket: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** The cluster's state and logs. */
  readonly workDir: string;
  /** Stops radosgw, then the OSD, then the monitor, and removes the state it created. */
  stop(): Promise<void>;
  /**
   * Stops only the S3 gateway (radosgw): the endpoint refuses connections, the data stays (outage
   * drills). `kill` sends SIGKILL instead of a clean stop, as a crashed gateway would go.
   */
  stopGateway(options?: { kill?: boolean }): Promise<void>;
  /** Starts the gateway again on the same port and waits until it answers. */
  startGateway(): Promise<void>;
}

/*
 * Settings found by trying: with cephx off the messenger modes must all be `crc` or radosgw loops on
 * auth error -13; a one-OSD cluster needs pool size 1, a chooseleaf type of 0 and no autoscaling.
 */
function cephConfig(p: { fsid: string; monPort: number; rgwPort: number; dir: string; storage: 'memory' | 'file'; capacityBytes: number }): string {
  const storeLines =
    p.storage === 'memory'
      ? ['osd objectstore = memstore', `memstore device bytes = ${p.capacityBytes}`]
      : [
          'osd objectstore = bluestore',
          // Outside the OSD folder: BlueStore makes its own `block` symlink there.
          `bluestore block path = ${p.dir}/osd-block`,
          'bluestore block create = true',
          `bluestore block size = ${p.capacityBytes}`,
          'bluestore fsck on mount = false',
        ];
  return [
    '[global]',
    `fsid = ${p.fsid}`,
    `mon host = [v2:127.0.0.1:${p.monPort}]`,
    'mon initial members = a',
    'public network = 127.0.0.0/8',
    'auth cluster required = none',
    'auth service required = none',
    'auth client required = none',
    ...['cluster', 'service', 'client', 'mon cluster', 'mon service', 'mon client'].map((k) => `ms ${k} mode = crc`),
    'ms bind msgr1 = false',
    'osd pool default size = 1',
    'osd pool default min size = 1',
    'mon allow pool size one = true',
    'mon allow pool delete = true',
    'osd pool default pg num = 8',
    'osd pool default pgp num = 8',
    'osd pool default pg autoscale mode = off',
    'osd crush chooseleaf type = 0',
    'mon warn on pool no redundancy = false',
    `run dir = ${p.dir}/run`,
    `admin socket = ${p.dir}/run/$name.asok`,
    `log file = ${p.dir}/log/$name.log`,
    `pid file = ${p.dir}/run/$name.pid`,
    `mon data = ${p.dir}/mon`,
    `osd data = ${p.dir}/osd`,
    ...storeLines,
    '[client.rgw]',
    `rgw frontends = beast endpoint=127.0.0.1:${p.rgwPort}`,
    'rgw dns name = localhost',
    // Multipart copies of multi-GiB files must not be refused by the default object size cap.
    'rgw max put size = 53687091200',
    '',
  ].join('\n');
}

/** The cluster's daemons, in the order an orphaned stack stops them. */
export const CEPH_WATCHDOG_NAMES = ['rgw', 'osd', 'mon'] as const;
type CephDaemon = (typeof CEPH_WATCHDOG_NAMES)[number];

/** Where a daemon's watchdog writes its pid, under the server's work folder. */
export function cephWatchdogPidFile(workDir: string, name: CephDaemon): string {
  return join(workDir, 'run', `${name}.watchdog.pid`);
}

/** Starts a one-monitor, one-OSD Ceph cluster with a radosgw on free loopback ports and creates a bucket. */
export async function startS3Server(options: S3ServerOptions = {}): Promise<S3Server> {
  const bin = resolveCephBinaries();
  const storage = options.storage ?? 'memory';
  const bucket = options.bucket ?? 'pipeline-outputs';
  const ownsWorkDir = options.workDir === undefined;
  const dir = options.workDir ?? mkdtempSync(join(tmpdir(), 'rcp-ceph-'));
  for (const sub of ['mon', 'osd', 'run', 'log']) mkdirSync(join(dir, sub), { recursive: true });
  const [monPort, rgwFree] = await getFreePorts(2);
  const rgwPort = options.port ?? rgwFree!;
  const fsid = randomUUID();
  const conf = join(dir, 'ceph.conf');
  const capacityBytes = options.capacityBytes ?? (storage === 'memory' ? 4 * 1024 ** 3 : 16 * 1024 ** 3);
  writeFileSync(conf, cephConfig({ fsid, monPort: monPort!, rgwPort, dir, storage, capacityBytes }));

  const started: SupervisedProcess[] = [];
  const pidFile = (name: CephDaemon): string => cephWatchdogPidFile(dir, name);
  // If the owner dies, the watchdogs stop the gateway first, then the OSD, then the monitor (the
  // order `stopAll` uses); the monitor's watchdog, last, removes a state folder this call created.
  const dependants: Record<CephDaemon, CephDaemon[]> = { mon: ['rgw', 'osd'], osd: ['rgw'], rgw: [] };
  const daemon = (name: CephDaemon, command: string, args: string[]): SupervisedProcess => {
    const proc = new SupervisedProcess({
      name,
      command,
      args: ['-f', '-c', conf, ...args],
      logFile: join(dir, 'log', `${name}.out`),
      pidFile: pidFile(name),
      stopAfterPidFiles: dependants[name]!.map(pidFile),
      ...(name === 'mon' && ownsWorkDir ? { removeWhenOrphaned: dir } : {}),
    });
    started.push(proc);
    return proc;
  };
  const stopAll = async (): Promise<void> => {
    // Reverse order: the gateway needs the OSD, the OSD needs the monitor.
    for (const proc of [...started].reverse()) await proc.stop(10_000);
    started.length = 0;
  };

  const endpoint = `http://127.0.0.1:${rgwPort}`;
  let rgw: SupervisedProcess | undefined;
  try {
    await runToCompletion(bin.monmaptool, ['--create', '--clobber', '--fsid', fsid, '--addv', 'a', `[v2:127.0.0.1:${monPort}]`, join(dir, 'monmap')]);
    await runToCompletion(bin['ceph-mon'], ['-c', conf, '--mkfs', '-i', 'a', '--monmap', join(dir, 'monmap')]);
    daemon('mon', bin['ceph-mon'], ['-i', 'a']);
    const osdId = (await runToCompletion(bin.ceph, ['-c', conf, 'osd', 'create'], { timeoutMs: 60_000 })).trim();
    await runToCompletion(bin['ceph-osd'], ['-c', conf, '-i', osdId, '--mkfs'], { timeoutMs: 120_000 });
    daemon('osd', bin['ceph-osd'], ['-i', osdId]);
    rgw = daemon('rgw', bin.radosgw, ['-n', 'client.rgw']);
    await waitUntil(
      async () => {
        if (rgw?.hasExited) throw new Error(`radosgw exited:\n${rgw.logTail()}`);
        return (await fetch(endpoint)).ok;
      },
      { timeoutMs: options.startTimeoutMs ?? 90_000, intervalMs: 250, what: `radosgw at ${endpoint}` },
    );
    await runToCompletion(bin['radosgw-admin'], [
      '-c', conf, 'user', 'create', '--uid', 'rcp-local', '--display-name', 'local pipeline outputs',
      '--access-key', LOCAL_S3_CREDENTIALS.accessKeyId, '--secret-key', LOCAL_S3_CREDENTIALS.secretAccessKey,
    ]);
    // radosgw's zonegroup is "default": a LocationConstraint of `auto` (R2's region) is refused on
    // CreateBucket, so the bucket is made with a plain client. R2 buckets exist before the app runs.
    const admin = new S3Client({ region: 'us-east-1', endpoint, forcePathStyle: true, credentials: { ...LOCAL_S3_CREDENTIALS } });
    try {
      await admin.send(new CreateBucketCommand({ Bucket: bucket }));
    } finally {
      admin.destroy();
    }
  } catch (error) {
    // The state folder is kept on failure: its logs say why.
    await stopAll();
    throw new Error(`The local S3 server (Ceph radosgw) did not start; logs are in ${join(dir, 'log')}`, { cause: error });
  }

  return {
    endpoint,
    region: 'auto',
    bucket,
    ...LOCAL_S3_CREDENTIALS,
    workDir: dir,
    async stop() {
      await stopAll();
      if (ownsWorkDir) rmSync(dir, { recursive: true, force: true });
    },
    async stopGateway(opts) {
      if (!rgw) return;
      const gateway = rgw;
      rgw = undefined;
      started.splice(started.indexOf(gateway), 1);
      if (opts?.kill) {
        gateway.killGroup('SIGKILL');
        await gateway.waitForExit();
      } else {
        await gateway.stop(10_000);
      }
    },
    async startGateway() {
      if (rgw) return;
      const gateway = daemon('rgw', bin.radosgw, ['-n', 'client.rgw']);
      rgw = gateway;
      await waitUntil(
        async () => {
          if (gateway.hasExited) throw new Error(`radosgw exited:\n${gateway.logTail()}`);
          return (await fetch(endpoint)).ok;
        },
        { timeoutMs: options.startTimeoutMs ?? 90_000, intervalMs: 250, what: `radosgw at ${endpoint}` },
      );
    },
  };
}
