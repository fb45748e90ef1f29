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
  const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]');
  return new RegExp(`^${body}$`);
}

/**
 * The image files a pattern names, sorted: a file, a folder's images, a glob in the file name
 * (`dir/*.jpg`; the shell expands unquoted ones), or a list file (.txt, one path a line, relative
 * to the list's folder).
 */
export async function expandImages(pattern: string): Promise<string[]> {
  if (/[*?]/.test(pattern)) {
    const dir = path.dirname(pattern);
    if (/[*?]/.test(dir)) throw new RtinferError('RTI_ERR_ARG_INVALID', `invalid image glob '${pattern}' (only the file name may hold * or ?)`);
    const re = globRegExp(path.basename(pattern));
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      throw new RtinferError('RTI_ERR_IMAGE_NOT_FOUND', `${pattern}: no such folder ${dir}`);
    }
    const hits = names.filter((n) => re.test(n) && IMAGE_EXTENSIONS.includes(path.extname(n).toLowerCase())).sort();
    if (hits.length === 0) throw new RtinferError('RTI_ERR_IMAGE_NOT_FOUND', `${pattern}: no image matches`);
    return hits.map((n) => path.join(dir, n));
  }
  let info;
  try {
    info = await stat(pattern);
  } catch {
    throw new RtinferError('RTI_ERR_IMAGE_NOT_FOUND', `${pattern}: no such file or directory`);
  }
  if (info.isDirectory()) {
    const files = (await readdir(pattern)).filter((f) => IMAGE_EXTENSIONS.includes(path.extname(f).toLowerCase())).sort();
    if (files.length === 0) throw new RtinferError('RTI_ERR_IMAGE_NOT_FOUND', `${pattern}: no .jpg, .png or .webp files in it`);
    return files.map((f) => path.join(pattern, f));
  }
  if (LIST_EXTENSIONS.includes(path.extname(pattern).toLowerCase())) {
    const lines = (await readFile(pattern, 'utf8')).split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
    if (lines.length === 0) throw new RtinferError('RTI_ERR_IMAGE_NOT_FOUND', `${pattern}: the list names no image`);
    return lines.map((l) => (path.isAbsolute(l) ? l : path.join(path.dirname(pattern), l)));
  }
  return [pattern];
}

/**
 * Image arguments with folders, globs and list files expanded (in order); plain paths stay as they
 * are, so a missing one still fails its own result line rather than the whole run.
 */
export async function expandImageArgs(args: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const a of args) {
    let expand = /[*?]/.test(a) || LIST_EXTENSIONS.includes(path.extname(a).toLowerCase());
    if (!expand) expand = await stat(a).then((s) => s.isDirectory(), () => false);
    if (expand) out.push(...(await expandImages(a)));
    else out.push(a);
  }
  return out;
}
