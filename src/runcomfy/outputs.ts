/**
 * Pure extraction of output files from a RunComfy result's `outputs` map
 * (`{ "<node_id>": { "<channel>": [ { url, filename, subfolder, type, ... } ] } }`).
 *
 * Classification policy (documented here because callers rely on it):
 * - `kind` says how the file is consumed downstream. A moving picture is `'video'` whatever its
 *   container: an `.mp4` listed under `images` (core SaveVideo), an animated `.webp` (SaveAnimatedWEBP,
 *   flagged by the node-level `animated: [true]`), an animated `.gif`, and every VideoHelperSuite item
 *   (recognised by its `format`/`frame_rate`) whose format is not a still image type. A `.gif` or
 *   `.webp` that is not flagged animated stays `'image'`.
 * - The file extension decides first, then VHS's `format` (`video/h264-mp4` → video), then the channel
 *   name (`audio`, `videos`, `gifs`); anything left is `'other'`.
 * - Items with `type: "temp"` (PreviewImage, VHS with save_output=false) are skipped unless
 *   `includeTemp` is set. Channels whose items have no `url` (text nodes) are ignored.
 */
import { CONTENT_TYPES_BY_EXTENSION } from '../contract/media-types.js';
import { compareNodeIds, isRecord } from '../pipeline/comfy-graph.js';

/** How a file is consumed downstream; see the module comment for the policy. */
export const OUTPUT_KIND = { image: 'image', video: 'video', audio: 'audio', other: 'other' } as const;

/** One of the values of {@link OUTPUT_KIND}. */
export type OutputKind = (typeof OUTPUT_KIND)[keyof typeof OUTPUT_KIND];

/** One downloadable file found in a result's outputs. */
export interface OutputFile {
  /** The ComfyUI node id that produced it (a string, possibly compound such as `"68:8"`). */
  readonly nodeId: string;
  /** The key it was listed under: `images`, `gifs`, `audio`, `videos`, ... */
  readonly channel: string;
  /** Its position within that channel's list. */
  readonly index: number;
  /** Absolute download URL (temporary: RunComfy deletes outputs after about 7 days). */
  readonly url: string;
  /** File name as reported, or the last path segment of the URL. */
  readonly filename: string;
  /** ComfyUI sub-folder; `''` when absent. */
  readonly subfolder: string;
  /** Classification, see the module comment. */
  readonly kind: OutputKind;
  /** True for ComfyUI `type: "temp"` items (previews). */
  readonly isTemp: boolean;
  /**
   * The animated flag: as reported (item or node-level `animated` list), or true for a VideoHelperSuite
   * item (it carries `format`/`frame_rate` and is always a frame sequence). Undefined when unknown.
   */
  readonly animated?: boolean;
  /** VHS `format` as reported, e.g. `"video/h264-mp4"`. Not a MIME type. */
  readonly format?: string;
  /** MIME type inferred from the extension (or a real MIME type in `format`), when known. */
  readonly contentType?: string;
}

/** Options of {@link extractOutputFiles}. */
export interface ExtractOutputFilesOptions {
  /** Also return `type: "temp"` items (previews). Default false. */
  readonly includeTemp?: boolean;
}

const CONTENT_TYPE_BY_EXTENSION = CONTENT_TYPES_BY_EXTENSION;

// Image containers that can also hold an animation: their kind depends on the animated flag.
const ANIMATABLE_IMAGE_EXTENSIONS: ReadonlySet<string> = new Set(['gif', 'webp', 'png', 'avif']);

/**
 * Returns every file of every channel of every node in `outputs`, ordered by node id (numeric-aware),
 * then channel order as received, then index. Tolerates any shape: non-object nodes, non-array channels
 * and items without a string `url` are skipped, never thrown on.
 */
export function extractOutputFiles(outputs: unknown, options: ExtractOutputFilesOptions = {}): OutputFile[] {
  if (!isRecord(outputs)) return [];
  const files: OutputFile[] = [];
  const nodeIds = Object.keys(outputs).sort(compareNodeIds);
  for (const nodeId of nodeIds) {
    const node = outputs[nodeId];
    if (!isRecord(node)) continue;
    for (const [channel, items] of Object.entries(node)) {
      if (!Array.isArray(items)) continue;
      items.forEach((item: unknown, index) => {
        const file = toOutputFile(nodeId, channel, index, item, node.animated);
        if (file && (options.includeTemp === true || !file.isTemp)) files.push(file);
      });
    }
  }
  return files;
}

function toOutputFile(nodeId: string, channel: string, index: number, item: unknown, nodeAnimated: unknown): OutputFile | undefined {
  if (!isRecord(item) || typeof item.url !== 'string' || item.url === '') return undefined;
  const url = item.url;
  const filename = typeof item.filename === 'string' && item.filename !== '' ? item.filename : filenameFromUrl(url);
  const subfolder = typeof item.subfolder === 'string' ? item.subfolder : '';
  const format = typeof item.format === 'string' && item.format !== '' ? item.format : undefined;
  const isVhsItem = format !== undefined || item.frame_rate !== undefined;
  const animated = animatedFlag(item, nodeAnimated, index) ?? (isVhsItem ? true : undefined);
  const extension = extensionOf(filename) ?? extensionOf(pathOf(url));
  const contentType = (extension !== undefined ? CONTENT_TYPE_BY_EXTENSION[extension] : undefined) ?? mimeFromFormat(format);
  const kind = classify(extension, format, channel, animated === true);
  return {
    nodeId,
    channel,
    index,
    url,
    filename,
    subfolder,
    kind,
    isTemp: item.type === 'temp',
    ...(animated !== undefined ? { animated } : {}),
    ...(format !== undefined ? { format } : {}),
    ...(contentType !== undefined ? { contentType } : {}),
  };
}

function classify(extension: string | undefined, format: string | undefined, channel: string, animated: boolean): OutputKind {
  const byExtension = extension !== undefined ? CONTENT_TYPE_BY_EXTENSION[extension] : undefined;
  const major = byExtension?.split('/')[0] ?? format?.split('/')[0]?.toLowerCase();
  if (major === 'video') return 'video';
  if (major === 'audio') return 'audio';
  if (major === 'image') {
    const stillCapable = extension === undefined || ANIMATABLE_IMAGE_EXTENSIONS.has(extension);
    return animated && stillCapable ? 'video' : 'image';
  }
  const lowerChannel = channel.toLowerCase();
  if (lowerChannel === 'audio' || lowerChannel === 'audios') return 'audio';
  if (lowerChannel === 'videos' || lowerChannel === 'video' || lowerChannel === 'gifs') return 'video';
  if (lowerChannel === 'images') return animated ? 'video' : 'image';
  return 'other';
}

function animatedFlag(item: Record<string, unknown>, nodeAnimated: unknown, index: number): boolean | undefined {
  if (typeof item.animated === 'boolean') return item.animated;
  if (typeof nodeAnimated === 'boolean') return nodeAnimated;
  if (Array.isArray(nodeAnimated)) {
    // ComfyUI sends one flag for the whole list (`animated: [true]`); a per-item list is used when given.
    const flag: unknown = nodeAnimated[index] ?? nodeAnimated[0];
    if (typeof flag === 'boolean') return flag;
  }
  return undefined;
}

// VHS formats look like MIME types with an encoder suffix ("video/h264-mp4"); only a plain,
// registered-looking one ("image/gif", "video/webm") is trusted as a content type.
function mimeFromFormat(format: string | undefined): string | undefined {
  if (format === undefined) return undefined;
  const match = /^(image|video|audio)\/([a-z0-9.+-]+)$/i.exec(format);
  if (!match) return undefined;
  const subtype = match[2]?.toLowerCase() ?? '';
  const known = Object.values(CONTENT_TYPE_BY_EXTENSION).find((mime) => mime === `${match[1]?.toLowerCase()}/${subtype}`);
  return known;
}

function extensionOf(name: string): string | undefined {
  const base = name.split('/').pop() ?? '';
  const dot = base.lastIndexOf('.');
  if (dot <= 0 || dot === base.length - 1) return undefined;
  return base.slice(dot + 1).toLowerCase();
}

function pathOf(url: string): string {
  try {
    return decodeURIComponent(new URL(url).pathname);
  } catch {
    return url.split(/[?#]/)[0] ?? url;
  }
}

function filenameFromUrl(url: string): string {
  return pathOf(url).split('/').pop() ?? '';
}
