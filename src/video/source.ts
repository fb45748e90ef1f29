/**
 * What a `predict` / `bench --images` source names: images (a file, a folder, a glob, a list file)
 * or frames (a video file, a stream URL, a V4L2 camera, `-` for stdin). Decided from the text
 * alone, before anything is opened, so the error for a missing file can say which kind was meant.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { RtinferError } from '../errors.js';

export const VIDEO_EXTENSIONS = ['.mp4', '.mkv', '.webm', '.avi', '.mov', '.m4v', '.ts', '.mjpeg', '.mjpg', '.y4m'];
export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp'];
const LIST_EXTENSIONS = ['.txt', '.list'];

export type VideoInput =
  | { kind: 'file'; location: string }
  | { kind: 'stream'; location: string }
  | { kind: 'camera'; location: string }
  /** `-`: MJPEG (concatenated JPEGs) or raw frames (with a frame size) on stdin. */
  | { kind: 'stdin'; location: '-' };

export type Source = { kind: 'images'; pattern: string } | VideoInput;

/** Live sources: frames keep coming whether or not we keep up, so the newest one wins by default. */
export function isLive(input: VideoInput): boolean {
  return input.kind === 'stream' || input.kind === 'camera' || input.kind === 'stdin';
}

export function classifySource(text: string): Source {
  if (text === '-') return { kind: 'stdin', location: '-' };
  if (/^\/dev\/video\d+$/.test(text)) return { kind: 'camera', location: text };
  if (/^(rtsps?|rtmps?|https?|udp|tcp|srt):\/\//i.test(text)) return { kind: 'stream', location: text };
  if (VIDEO_EXTENSIONS.includes(path.extname(text).toLowerCase())) return { kind: 'file', location: text };
  return { kind: 'images', pattern: text };
}

function globRegExp(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '[^/]*')
    .replace(/\?/g, '[^/]');
  return new RegExp(`^${body}$`);
}

/** What an image argument holds: the images to run, and the entries that are not images (skipped). */
export interface ImageScan {
  images: string[];
  /** Folder entries (or glob matches) without an image extension: listed and counted, not run. */
  skipped: string[];
}

const isImageName = (n: string): boolean => IMAGE_EXTENSIONS.includes(path.extname(n).toLowerCase());

/**
 * The image files a pattern names, sorted: a file, a folder's images, a glob in the file name
 * (`dir/*.jpg`; the shell expands unquoted ones), or a list file (.txt, one path a line, relative
 * to the list's folder). A folder's other entries, and glob matches that are not images, are
 * returned as `skipped` (a list file's lines are taken as given: a bad one fails its own result).
 */
export async function scanImages(pattern: string): Promise<ImageScan> {
  if (/[*?]/.test(pattern)) {
    const dir = path.dirname(pattern);
    if (/[*?]/.test(dir))
      throw new RtinferError(
        'RTI_ERR_ARG_INVALID',
        `invalid image glob '${pattern}' (only the file name may hold * or ?)`,
      );
    const re = globRegExp(path.basename(pattern));
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      throw new RtinferError('RTI_ERR_IMAGE_NOT_FOUND', `${pattern}: no such folder ${dir}`);
    }
    const matches = names.filter((n) => re.test(n)).sort();
    const hits = matches.filter(isImageName);
    const skipped = matches.filter((n) => !isImageName(n)).map((n) => path.join(dir, n));
    if (hits.length === 0)
      throw new RtinferError(
        'RTI_ERR_IMAGE_NOT_FOUND',
        `${pattern}: no image matches${skipped.length ? ` (${skippedNote(skipped)})` : ''}`,
      );
    return { images: hits.map((n) => path.join(dir, n)), skipped };
  }
  let info;
  try {
    info = await stat(pattern);
  } catch {
    throw new RtinferError('RTI_ERR_IMAGE_NOT_FOUND', `${pattern}: no such file or directory`);
  }
  if (info.isDirectory()) {
    const names = (await readdir(pattern)).sort();
    const files = names.filter(isImageName);
    const skipped = names.filter((n) => !isImageName(n)).map((n) => path.join(pattern, n));
    if (files.length === 0)
      throw new RtinferError(
        'RTI_ERR_IMAGE_NOT_FOUND',
        `${pattern}: no .jpg, .png or .webp files in it${skipped.length ? ` (${skippedNote(skipped)})` : ''}`,
      );
    return { images: files.map((f) => path.join(pattern, f)), skipped };
  }
  if (LIST_EXTENSIONS.includes(path.extname(pattern).toLowerCase())) {
    const lines = (await readFile(pattern, 'utf8'))
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    if (lines.length === 0) throw new RtinferError('RTI_ERR_IMAGE_NOT_FOUND', `${pattern}: the list names no image`);
    return { images: lines.map((l) => (path.isAbsolute(l) ? l : path.join(path.dirname(pattern), l))), skipped: [] };
  }
  return { images: [pattern], skipped: [] };
}

/** The image files a pattern names (see scanImages; the skipped entries are dropped). */
export async function expandImages(pattern: string): Promise<string[]> {
  return (await scanImages(pattern)).images;
}

/** "3 non-image entries skipped: a.txt, b.csv, sub" (the first `max` named). */
export function skippedNote(skipped: readonly string[], max = 10): string {
  const names = skipped.slice(0, max).map((p) => path.basename(p));
  const more = skipped.length > max ? `, and ${skipped.length - max} more` : '';
  const entries = skipped.length === 1 ? 'entry' : 'entries';
  return `${skipped.length} non-image ${entries} skipped: ${names.join(', ')}${more}`;
}

/**
 * Image arguments with folders, globs and list files expanded (in order); plain paths stay as they
 * are, so a missing one still fails its own result line rather than the whole run. Non-images in
 * folders and globs are collected in `skipped`.
 */
export async function scanImageArgs(args: readonly string[]): Promise<ImageScan> {
  const out: ImageScan = { images: [], skipped: [] };
  for (const a of args) {
    let expand = /[*?]/.test(a) || LIST_EXTENSIONS.includes(path.extname(a).toLowerCase());
    if (!expand)
      expand = await stat(a).then(
        (s) => s.isDirectory(),
        () => false,
      );
    if (expand) {
      const scan = await scanImages(a);
      out.images.push(...scan.images);
      out.skipped.push(...scan.skipped);
    } else out.images.push(a);
  }
  return out;
}

/** Image arguments expanded (see scanImageArgs; the skipped entries are dropped). */
export async function expandImageArgs(args: readonly string[]): Promise<string[]> {
  return (await scanImageArgs(args)).images;
}
