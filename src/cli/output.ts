/** Writing a command's output files (--csv, --html, ...), with the one-line error every command gives. */
import { access, constants, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { RtinferError } from '../errors.js';

function cannotWrite(option: string, file: string, error: unknown): RtinferError {
  return new RtinferError(
    'RTI_ERR_IO_WRITE',
    `cannot write --${option} ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
  );
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
