/**
 * The images an accuracy check runs on: files as given, folders expanded to the image files
 * directly in them (by extension, sorted by name, not recursive). A path that does not exist is
 * an error up front; an image that exists but does not decode is the accuracy check's to skip.
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { RtinferError } from '../errors.js';

/** Extensions taken from a folder: what sharp decodes by default (DEFAULT_FORMATS). */
export const IMAGE_EXTENSIONS: readonly string[] = [
  '.jpg',
  '.jpeg',
  '.png',
  '.webp',
  '.gif',
  '.tif',
  '.tiff',
  '.avif',
  '.heic',
  '.heif',
];

export async function listImages(paths: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of paths) {
    let info;
    try {
      info = await stat(p);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new RtinferError(
        'RTI_ERR_IMAGE_NOT_FOUND',
        `${code === 'ENOENT' ? 'image or folder not found' : 'cannot read image or folder'}: ${p}`,
        { cause: error },
      );
    }
    if (!info.isDirectory()) {
      out.push(p);
      continue;
    }
    const names = (await readdir(p, { withFileTypes: true }))
      .filter((e) => e.isFile() && IMAGE_EXTENSIONS.includes(path.extname(e.name).toLowerCase()))
      .map((e) => e.name)
      .sort();
    if (names.length === 0) {
      throw new RtinferError(
        'RTI_ERR_ACCURACY_NO_IMAGES',
        `no image files (${IMAGE_EXTENSIONS.join(' ')}) in folder ${p}`,
      );
    }
    for (const n of names) out.push(path.join(p, n));
  }
  return out;
}
