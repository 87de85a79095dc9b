import { createHash, randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { OutputFileInfo } from './admin-types.js';
import type { Deployment } from './deployments.js';
import { buildMediaFile, type MediaFile, type MediaKind, type MediaRequest } from './media/index.js';
import type { Overrides, WorkflowGraph } from './workflow-graph.js';

/** One item of an output channel, as RunComfy's result lists it. */
export interface OutputItem {
  url: string;
  filename: string;
  subfolder: string;
  type: 'output' | 'temp';
  format?: string;
  frame_rate?: number;
}

/** The outputs of one node in a result: `images` or `gifs`, plus `animated` for animations. */
export type NodeOutputs = Record<string, unknown>;

/** How a ComfyUI output node reports its files. */
interface OutputNodeRule {
  channel: 'images' | 'gifs';
  animated: boolean;
  kind: (inputs: Record<string, unknown>) => MediaKind;
  type: (inputs: Record<string, unknown>) => 'output' | 'temp';
  /** ComfyUI's name pattern: core nodes end in `_`, VideoHelperSuite does not. */
  trailingUnderscore: boolean;
  fpsInput?: string;
  vhs?: boolean;
}

function vhsKind(inputs: Record<string, unknown>): MediaKind {
  const format = typeof inputs.format === 'string' ? inputs.format : 'image/gif';
  if (format === 'image/gif') return 'gif';
  if (format === 'image/webp') return 'webp';
  // every video/* format (h264, h265, webm, ...) is served as an H.264 MP4
  return 'mp4';
}

/** The ComfyUI output nodes the emulator knows, and how each reports its files (checked against ComfyUI and VHS sources). */
export const OUTPUT_NODE_RULES: Readonly<Record<string, OutputNodeRule>> = {
  SaveImage: { channel: 'images', animated: false, kind: () => 'png', type: () => 'output', trailingUnderscore: true },
  PreviewImage: { channel: 'images', animated: false, kind: () => 'png', type: () => 'temp', trailingUnderscore: true },
  SaveAnimatedWEBP: { channel: 'images', animated: true, kind: () => 'webp', type: () => 'output', trailingUnderscore: true, fpsInput: 'fps' },
  SaveAnimatedPNG: { channel: 'images', animated: true, kind: () => 'png', type: () => 'output', trailingUnderscore: true, fpsInput: 'fps' },
  SaveVideo: { channel: 'images', animated: true, kind: () => 'mp4', type: () => 'output', trailingUnderscore: true },
  VHS_VideoCombine: {
    channel: 'gifs',
    animated: false,
    kind: vhsKind,
    type: (inputs) => (inputs.save_output === false ? 'temp' : 'output'),
    trailingUnderscore: false,
    fpsInput: 'frame_rate',
    vhs: true,
  },
};

/** A generated file the emulator serves until it expires. */
export interface OutputFileRecord {
  key: string;
  requestId: string;
  deploymentId: string;
  nodeId: string;
  channel: string;
  filename: string;
  url: string;
  kind: MediaKind;
  media: MediaRequest;
  expiresAtMs: number;
}

/** The node ids of `graph` that produce files, in graph order. */
export function outputNodeIds(graph: WorkflowGraph): string[] {
  return Object.entries(graph)
    .filter(([, node]) => OUTPUT_NODE_RULES[node.class_type] !== undefined)
    .map(([nodeId]) => nodeId);
}

/** JSON with sorted keys and only ASCII, so equal overrides hash equally and the text fits a PNG tEXt chunk. */
function canonicalJson(value: unknown): string {
  const sortKeys = (input: unknown): unknown => {
    if (Array.isArray(input)) return input.map(sortKeys);
    if (typeof input === 'object' && input !== null) {
      return Object.fromEntries(Object.keys(input).sort().map((key) => [key, sortKeys((input as Record<string, unknown>)[key])]));
    }
    // embedded data URIs would make every PNG as big as the upload: keep metadata short
    if (typeof input === 'string' && input.length > 2048) return `<${input.length} characters>`;
    return input;
  };
  return JSON.stringify(sortKeys(value)).replace(/[\u0080-\uffff]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function sha256(...parts: string[]): Buffer {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part).update('\0');
  return hash.digest();
}

function splitPrefix(prefix: string): { subfolder: string; base: string } {
  const normalised = prefix.replace(/\\/g, '/');
  const slash = normalised.lastIndexOf('/');
  return slash < 0 ? { subfolder: '', base: normalised } : { subfolder: normalised.slice(0, slash), base: normalised.slice(slash + 1) };
}

function randomLetters(count: number): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz';
  return [...randomBytes(count)].map((byte) => alphabet[byte % alphabet.length]).join('');
}

/** Output files of all finished jobs, with expiry; file bytes are generated when downloaded. */
export class OutputStore {
  private readonly files = new Map<string, OutputFileRecord>();
  private readonly keysByRequest = new Map<string, string[]>();
  private readonly recentMedia = new Map<string, MediaFile>();

  /**
   * Creates the files of a succeeded job and returns its `outputs` map, keyed by node id as in
   * RunComfy's result. `graph` is the graph the job ran, overrides already merged.
   */
  createForJob(job: { requestId: string; deploymentId: string; overrides: Overrides; dynamicWorkflow: boolean }, deployment: Deployment, graph: WorkflowGraph, options: { baseUrl: string; expiresAtMs: number; sizeBytes: number | null }): Record<string, NodeOutputs> {
    const outputs: Record<string, NodeOutputs> = {};
    const overridesText = canonicalJson(job.overrides);
    const promptText = canonicalJson(graph);
    const workflowText = job.dynamicWorkflow ? promptText : '';
    const keys: string[] = [];
    for (const nodeId of outputNodeIds(graph)) {
      const node = graph[nodeId]!;
      const rule = OUTPUT_NODE_RULES[node.class_type]!;
      const kind = rule.kind(node.inputs);
      const type = rule.type(node.inputs);
      const prefixInput = node.inputs.filename_prefix;
      const prefix = node.class_type === 'PreviewImage' ? `ComfyUI_temp_${randomLetters(5)}` : typeof prefixInput === 'string' && prefixInput.length > 0 ? prefixInput : 'ComfyUI';
      const { subfolder, base } = splitPrefix(prefix);
      const counter = (deployment.fileCounters.get(prefix) ?? 0) + 1;
      deployment.fileCounters.set(prefix, counter);
      const filename = `${base}_${String(counter).padStart(5, '0')}${rule.trailingUnderscore ? '_' : ''}.${kind}`;
      const fpsValue = rule.fpsInput ? node.inputs[rule.fpsInput] : undefined;
      const framesPerSecond = typeof fpsValue === 'number' && fpsValue > 0 ? fpsValue : 8;
      const key = randomBytes(12).toString('hex');
      const url = `${options.baseUrl}/files/${key}/${encodeURIComponent(filename)}`;
      const media: MediaRequest = {
        pixelSeed: sha256(job.deploymentId, nodeId, overridesText, workflowText),
        fileSeed: sha256(job.requestId, nodeId, filename),
        targetBytes: options.sizeBytes ?? undefined,
        framesPerSecond,
        textMetadata: { prompt: promptText, request_id: job.requestId },
      };
      this.files.set(key, { key, requestId: job.requestId, deploymentId: job.deploymentId, nodeId, channel: rule.channel, filename, url, kind, media, expiresAtMs: options.expiresAtMs });
      keys.push(key);
      const item: OutputItem = { url, filename, subfolder, type };
      if (rule.vhs) {
        item.format = typeof node.inputs.format === 'string' ? node.inputs.format : 'image/gif';
        item.frame_rate = framesPerSecond;
      }
      const nodeOutputs = outputs[nodeId] ?? {};
      const list = (nodeOutputs[rule.channel] as OutputItem[] | undefined) ?? [];
      list.push(item);
      nodeOutputs[rule.channel] = list;
      if (rule.animated) nodeOutputs.animated = [true];
      outputs[nodeId] = nodeOutputs;
    }
    this.keysByRequest.set(job.requestId, keys);
    return outputs;
  }

  /** The live file for a key; expired files are forgotten and read as missing. */
  get(key: string, nowMs: number): OutputFileRecord | undefined {
    const record = this.files.get(key);
    if (!record) return undefined;
    if (nowMs >= record.expiresAtMs) {
      this.files.delete(key);
      this.recentMedia.delete(key);
      return undefined;
    }
    return record;
  }

  /** The generated file behind a record (the last few are kept, so HEAD then GET builds once). */
  media(record: OutputFileRecord): MediaFile {
    let media = this.recentMedia.get(record.key);
    if (!media) {
      media = buildMediaFile(record.kind, record.media);
      this.recentMedia.set(record.key, media);
      if (this.recentMedia.size > 64) this.recentMedia.delete(this.recentMedia.keys().next().value!);
    }
    return media;
  }

  /** Files of one job that have not expired. */
  filesOf(requestId: string, nowMs: number): OutputFileRecord[] {
    return (this.keysByRequest.get(requestId) ?? []).map((key) => this.get(key, nowMs)).filter((record): record is OutputFileRecord => record !== undefined);
  }

  /** Makes a job's files expire now. */
  expireRequest(requestId: string): void {
    for (const key of this.keysByRequest.get(requestId) ?? []) {
      this.files.delete(key);
      this.recentMedia.delete(key);
    }
    this.keysByRequest.delete(requestId);
  }

  /** Drops every expired file (called from a slow sweep timer to bound memory). */
  sweep(nowMs: number): void {
    for (const [key, record] of this.files) {
      if (nowMs >= record.expiresAtMs) {
        this.files.delete(key);
        this.recentMedia.delete(key);
      }
    }
  }

  clear(): void {
    this.files.clear();
    this.keysByRequest.clear();
    this.recentMedia.clear();
  }
}

/** Size and SHA-256 of a file, computed by generating it; yields to the event loop between blocks of work. */
export async function digestOutput(record: OutputFileRecord, media: MediaFile): Promise<OutputFileInfo> {
  const hash = createHash('sha256');
  let sizeBytes = 0;
  let sinceYield = 0;
  for (const chunk of media.chunks()) {
    hash.update(chunk);
    sizeBytes += chunk.length;
    sinceYield += chunk.length;
    if (sinceYield >= 32 * 1024 * 1024) {
      sinceYield = 0;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  return { node_id: record.nodeId, channel: record.channel, filename: record.filename, url: record.url, content_type: media.contentType, size_bytes: sizeBytes, sha256: hash.digest('hex') };
}

function waitForDrainOrClose(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/**
 * Streams a generated file with backpressure. With `truncateAfterBytes`, the headers still announce
 * the full length but the connection is destroyed after that many body bytes.
 */
export async function streamMedia(res: ServerResponse, media: MediaFile, truncateAfterBytes?: number, throttle?: { bytesPerSecond: number; sleep: (ms: number) => Promise<void> }): Promise<void> {
  let sent = 0;
  for (const chunk of media.chunks()) {
    if (res.destroyed) return;
    if (throttle) await throttle.sleep((chunk.length / throttle.bytesPerSecond) * 1000);
    let piece = chunk;
    if (truncateAfterBytes !== undefined && sent + piece.length > truncateAfterBytes) piece = piece.subarray(0, Math.max(0, truncateAfterBytes - sent));
    if (piece.length > 0 && !res.write(piece)) await waitForDrainOrClose(res);
    sent += piece.length;
    if (truncateAfterBytes !== undefined && sent >= truncateAfterBytes) {
      // let the bytes already written leave, then cut the connection mid-body
      res.socket?.end();
      setTimeout(() => res.socket?.destroy(), 20).unref();
      return;
    }
  }
  res.end();
}
