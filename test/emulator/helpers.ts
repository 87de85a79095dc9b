import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEmulator, type EmulatorOptions, type RunningEmulator } from '../../src/emulator/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** The repository root. */
export const repoRoot = path.resolve(here, '..', '..');
/** Copies of public ComfyUI workflows (sources and licences in SOURCES.md there). */
export const fixturesDir = path.join(repoRoot, 'test', 'fixtures', 'comfy');

export const TOKEN = 'test-token';

/** An emulator over the fixture workflows with millisecond timings, closed by the caller. */
export function startTestEmulator(options: EmulatorOptions = {}): Promise<RunningEmulator> {
  return startEmulator({
    token: TOKEN,
    workflowsDir: fixturesDir,
    timing: { durationMs: 30, jitterMs: 0, coldStartMs: 0 },
    allowHttpWebhooks: true,
    webhook: { maxAttempts: 4, initialBackoffMs: 10, maxBackoffMs: 40, timeoutMs: 1000 },
    randomSeed: 42,
    ...options,
  });
}

/** JSON response of an API call. */
export interface ApiResponse<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  body: T;
}

/** Calls the emulator's RunComfy API with the test token (or `token: null` for none). */
export async function api<T = Record<string, unknown>>(url: string, init: { method?: string; body?: unknown; token?: string | null } = {}): Promise<ApiResponse<T>> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  const token = init.token === undefined ? TOKEN : init.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  const response = await fetch(url, { method: init.method ?? 'GET', headers, body: init.body === undefined ? undefined : JSON.stringify(init.body) });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: (text ? JSON.parse(text) : {}) as T };
}

/** Submit response body. */
export interface SubmitBody {
  request_id: string;
  status_url: string;
  result_url: string;
  cancel_url: string;
}

/** Submits a job and asserts it was accepted. */
export async function submit(emulator: RunningEmulator, deploymentName: string, body: unknown = {}, query = '', version: 'v1' | 'v2' = 'v1'): Promise<SubmitBody> {
  const response = await api<SubmitBody>(`${emulator.url}/prod/${version}/deployments/${emulator.deploymentId(deploymentName)}/inference${query}`, { method: 'POST', body });
  if (response.status !== 200) throw new Error(`submit answered ${response.status}: ${JSON.stringify(response.body)}`);
  return response.body;
}

/** Polls `check` every few milliseconds until it returns a value other than undefined. */
export async function waitFor<T>(check: () => Promise<T | undefined> | T | undefined, timeoutMs = 3000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('waitFor timed out');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Reads status until the job is terminal and returns the result body. */
export async function waitForResult(job: SubmitBody): Promise<Record<string, unknown>> {
  await waitFor(async () => {
    const status = await api(job.status_url);
    return ['completed', 'cancelled', 'canceled'].includes(status.body.status as string) ? true : undefined;
  });
  return (await api(job.result_url)).body;
}

/** A webhook receiver that records every POST and answers with the next planned status (then 200). */
export interface WebhookReceiver {
  url: string;
  /** `path` is the request's path and query, as the emulator called it. */
  events: { body: Record<string, unknown>; receivedAtMs: number; path: string }[];
  plannedStatuses: number[];
  close(): Promise<void>;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const receiver: WebhookReceiver = { url: '', events: [], plannedStatuses: [], close: async () => undefined };
  const server: Server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const status = receiver.plannedStatuses.shift() ?? 200;
      receiver.events.push({ body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>, receivedAtMs: Date.now(), path: req.url ?? '' });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook?token=abc`;
  receiver.close = async () => {
    const closed = new Promise((resolve) => server.close(resolve));
    server.closeAllConnections();
    await closed;
  };
  return receiver;
}
