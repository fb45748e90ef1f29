/** Writing a command's output files (--csv, --html, ...), with the one-line error every command gives. */
import { writeFile } from 'node:fs/promises';
import { RtinferError } from '../errors.js';

/** Writes `content` to the file given as --`option`; '' checks early that the path is writable. */
export async function writeOutput(option: string, file: string, content: string): Promise<void> {
  try {
    await writeFile(file, content);
  } catch (error) {
    throw new RtinferError('RTI_ERR_IO_WRITE', `cannot write --${option} ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}
