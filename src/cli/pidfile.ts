import { mkdirSync, readFileSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';
import { SgeventdError } from '../shared/index.ts';

/** The pid recorded in a pid file, if that process still runs. */
export function runningPid(pidFile: string): number | null {
  let text: string;
  try {
    text = readFileSync(pidFile, 'utf8').trim();
  } catch {
    return null;
  }
  const pid = Number(text);
  if (!Number.isInteger(pid) || pid <= 0) return null;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? pid : null;
  }
}

/** Writes this process's pid atomically; refuses when another daemon holds the file. */
export function claimPidFile(pidFile: string): () => void {
  const other = runningPid(pidFile);
  if (other !== null && other !== process.pid) {
    throw new SgeventdError('DAEMON_ALREADY_RUNNING', `another sgeventd (pid ${other}) holds ${pidFile}`, { details: { pid: other, pidFile } });
  }
  mkdirSync(dirname(pidFile), { recursive: true });
  const tmp = `${pidFile}.${process.pid}.tmp`;
  writeFileSync(tmp, `${process.pid}\n`);
  renameSync(tmp, pidFile);
  return () => {
    if (runningPid(pidFile) === process.pid) rmSync(pidFile, { force: true });
  };
}
