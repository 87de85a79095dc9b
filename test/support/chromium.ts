/**
 * Headless Chromium (Debian's `chromium`, installed by scripts/provision.sh) driven over its
 * DevTools protocol with Node's own WebSocket: enough to load a page, read its rendered text and
 * save a screenshot. No browser is ever downloaded.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findOnPath } from '../../src/devstack/tool-paths.js';

const CANDIDATES = ['chromium', 'chromium-browser', 'google-chrome'];

/** The Chromium executable, or a clear message naming what is missing and how to provide it. */
export function chromiumPath(): string {
  const explicit = process.env['CHROMIUM_PATH'];
  if (explicit) return explicit;
  for (const name of CANDIDATES) {
    const found = findOnPath(name);
    if (found) return found;
  }
  throw new Error('Chromium is missing: the Web UI tests need a headless browser. Run `bash scripts/provision.sh` (installs the Debian package `chromium`), or `apt-get install chromium`, or set CHROMIUM_PATH to a Chromium or Chrome executable.');
}

interface Pending {
  resolve: (value: Record<string, unknown>) => void;
  reject: (error: Error) => void;
}

export class Browser {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  private constructor(
    private readonly process: ChildProcess,
    private readonly socket: WebSocket,
    private readonly profileDir: string,
  ) {
    socket.addEventListener('message', (event) => {
      const message = JSON.parse(String(event.data)) as { id?: number; result?: Record<string, unknown>; error?: { message: string } };
      if (message.id === undefined) return;
      const waiter = this.pending.get(message.id);
      if (!waiter) return;
      this.pending.delete(message.id);
      if (message.error) waiter.reject(new Error(`DevTools: ${message.error.message}`));
      else waiter.resolve(message.result ?? {});
    });
  }

  static async launch(): Promise<Browser> {
    const executable = chromiumPath();
    const profileDir = mkdtempSync(join(tmpdir(), 'rcp-chromium-'));
    const child = spawn(
      executable,
      ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--remote-debugging-address=127.0.0.1', '--remote-debugging-port=0', `--user-data-dir=${profileDir}`, '--window-size=1400,1000', 'about:blank'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const wsUrl = await new Promise<string>((resolve, reject) => {
      let stderr = '';
      const timer = setTimeout(() => reject(new Error(`Chromium (${executable}) did not open its DevTools endpoint within 60 s:\n${stderr}`)), 60_000);
      child.stderr!.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        const match = /DevTools listening on (ws:\/\/\S+)/.exec(stderr);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]!);
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`Chromium (${executable}) exited (${code}) before opening DevTools:\n${stderr}`));
      });
    });
    const socket = new WebSocket(wsUrl);
    await new Promise<void>((resolve, reject) => {
      socket.addEventListener('open', () => resolve(), { once: true });
      socket.addEventListener('error', () => reject(new Error(`could not connect to ${wsUrl}`)), { once: true });
    });
    return new Browser(child, socket, profileDir);
  }

  private send(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.socket.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
    });
  }

  /** Opens `url` in a new tab. */
  async open(url: string): Promise<Page> {
    const { targetId } = (await this.send('Target.createTarget', { url })) as { targetId: string };
    const { sessionId } = (await this.send('Target.attachToTarget', { targetId, flatten: true })) as { sessionId: string };
    return new Page((method, params) => this.send(method, params, sessionId));
  }

  async close(): Promise<void> {
    this.socket.close();
    const exited = new Promise((resolve) => this.process.once('exit', resolve));
    this.process.kill('SIGKILL');
    await exited;
    rmSync(this.profileDir, { recursive: true, force: true });
  }
}

export class Page {
  constructor(private readonly send: (method: string, params?: Record<string, unknown>) => Promise<Record<string, unknown>>) {}

  /** Runs an expression in the page and returns its (JSON) value. */
  async evaluate<T>(expression: string): Promise<T> {
    const { result, exceptionDetails } = (await this.send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true })) as { result: { value: T }; exceptionDetails?: { text: string } };
    if (exceptionDetails) throw new Error(`page script failed: ${exceptionDetails.text}`);
    return result.value;
  }

  /** The rendered text of the page. */
  text(): Promise<string> {
    return this.evaluate<string>('document.body ? document.body.innerText : ""');
  }

  /** Polls the rendered text until `ready` accepts it; fails with the last text seen. */
  async waitForText(ready: (text: string) => boolean, { timeoutMs = 60_000, what = 'the page' } = {}): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let text = '';
    while (Date.now() < deadline) {
      text = await this.text().catch(() => '');
      if (ready(text)) return text;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    throw new Error(`${what} did not render within ${timeoutMs} ms; it shows:\n${text.slice(0, 3000)}`);
  }

  async click(selectorText: string): Promise<boolean> {
    return this.evaluate<boolean>(`(() => {
      const wanted = ${JSON.stringify(selectorText)};
      const el = [...document.querySelectorAll('button, a, [role=tab], [role=button]')].find((e) => (e.innerText || '').trim().includes(wanted));
      if (!el) return false;
      el.click();
      return true;
    })()`);
  }

  async screenshot(path: string): Promise<void> {
    const { data } = (await this.send('Page.captureScreenshot', { format: 'png', captureBeyondViewport: true })) as { data: string };
    writeFileSync(path, Buffer.from(data, 'base64'));
  }
}
