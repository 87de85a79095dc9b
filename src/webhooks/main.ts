/**
 * `npm run webhooks`: the standalone webhook receiver. Reads the TEMPORAL_* variables and the payload
 * keys exactly as the workers do (a signal is a payload: it must be encrypted like the rest), and
 * the WEBHOOK_* variables (see the README). Run as many copies as you like behind one https address.
 * SIGTERM / SIGINT: stop accepting, finish the calls in flight, close the connection, exit 0.
 */
import { Client, Connection } from '@temporalio/client';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { encryptingDataConverter } from '../codec/aes-gcm-codec.js';
import { loadPayloadKeys } from '../codec/payload-keys.js';
import { ConfigError, parseWebhookServiceConfig } from '../config.js';
import { WebhookMetrics } from './metrics.js';
import { temporalNudge } from './nudge.js';
import { createWebhookReceiver, listenWebhookReceiver, type WebhookLog } from './receiver.js';

const LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'] as const;

function jsonLog(minimum: (typeof LEVELS)[number]): WebhookLog {
  const write = (level: (typeof LEVELS)[number]) => (message: string, meta: Record<string, unknown> = {}) => {
    if (LEVELS.indexOf(level) < LEVELS.indexOf(minimum)) return;
    process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), level, message, ...meta })}\n`);
  };
  return { debug: write('DEBUG'), info: write('INFO'), warn: write('WARN') };
}

async function main(): Promise<void> {
  const config = parseWebhookServiceConfig(process.env);
  let keys;
  try {
    keys = loadPayloadKeys(config.payloadKeys);
  } catch (error) {
    throw new ConfigError([(error as Error).message]);
  }
  const log = jsonLog(config.logLevel);
  const dataConverter = encryptingDataConverter(keys);
  const connection = await Connection.connect({
    address: config.temporal.address,
    ...(config.temporal.tls ? { tls: true } : {}),
    ...(config.temporal.apiKey ? { apiKey: config.temporal.apiKey } : {}),
  });
  const client = new Client({ connection, namespace: config.temporal.namespace, ...(dataConverter ? { dataConverter } : {}) });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'rcp_webhooks_' });
  const metrics = new WebhookMetrics(registry);
  const server = createWebhookReceiver({ settings: config.receiver, nudge: temporalNudge(client), metrics, log, serveMetrics: true });
  const receiver = await listenWebhookReceiver(server, config.port, config.host);
  log.info('webhook receiver started', { port: receiver.port, host: config.host, path: config.receiver.path, namespace: config.temporal.namespace, secrets: config.receiver.secrets.length });

  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    log.info('webhook receiver stopping');
    void receiver
      .close()
      .then(() => connection.close())
      .then(
        () => process.exit(0),
        () => process.exit(1),
      );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) {
    console.error(error.message);
    process.exit(2);
  }
  console.error(`webhook receiver failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
