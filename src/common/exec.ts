import { execFile } from 'node:child_process';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program without a shell; never rejects for a non-zero exit (the caller reads `code`). */
export type ExecRunner = (
  command: string,
  args: readonly string[],
  options?: { cwd?: string; env?: Record<string, string | undefined> },
) => Promise<ExecResult>;

export const nodeExec: ExecRunner = (command, args, options = {}) =>
  new Promise((resolve) => {
    execFile(
      command,
      [...args],
      { cwd: options.cwd, env: options.env as NodeJS.ProcessEnv | undefined, maxBuffer: 512 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error
          ? typeof (error as { code?: unknown }).code === 'number'
            ? (error as { code: number }).code
            : 127
          : 0;
        resolve({
          code,
          stdout: String(stdout),
          stderr: error && code === 127 && !stderr ? error.message : String(stderr),
        });
      },
    );
  });
