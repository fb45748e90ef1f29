/** Writing a command's output files (--csv, --html, ...), with the one-line error every command gives. */
import { access, constants, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { RtinferError } from '../errors.js';

/** What an errno means to a user (a bare EISDIR says little). */
const ERRNO_TEXT: Readonly<Record<string, string>> = {
  ENOENT: 'its folder does not exist',
  EISDIR: 'it is a folder',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'read-only file system',
  ENOTDIR: 'a part of the path is a file, not a folder',
  ENOSPC: 'no space left on the device',
};

function cannotWrite(option: string, file: string, error: unknown): RtinferError {
  const code = (error as NodeJS.ErrnoException).code;
  const why = code === undefined ? (error as Error).message : `${ERRNO_TEXT[code] ?? 'the system refused'} (${code})`;
  return new RtinferError('RTI_ERR_IO_WRITE', `cannot write --${option} ${file}: ${why}`);
}

/** Writes `content` to the file given as --`option`; '' checks early that the path is writable. */
export async function writeOutput(option: string, file: string, content: string): Promise<void> {
  try {
    await writeFile(file, content);
  } catch (error) {
    throw cannotWrite(option, file, error);
  }
}

/** Checks early that --`option`'s folder is writable, leaving an existing file as it is until the real write. */
export async function checkWritable(option: string, file: string): Promise<void> {
  try {
    await access(path.dirname(path.resolve(file)), constants.W_OK);
  } catch (error) {
    throw cannotWrite(option, file, error);
  }
}
