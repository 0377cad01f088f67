/** Local file writes that must not leave a half-written file behind. */
import { chownSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

/**
 * Replaces a local file through a temporary file in the same directory, keeping its mode and (when we may) its
 * owner and group: /etc/fleetmon/hosts.yml is root:fleetmon 0640 and must stay readable by the service.
 */
export function writeFileAtomic(file: string, text: string): void {
  const tmp = join(dirname(file), `.${basename(file)}.${randomBytes(4).toString('hex')}.tmp`);
  let st: { mode: number; uid: number; gid: number } | undefined;
  try {
    st = statSync(file);
  } catch {
    // a new file
  }
  writeFileSync(tmp, text, { mode: st ? st.mode & 0o777 : 0o644 });
  try {
    if (st && process.getuid?.() === 0) chownSync(tmp, st.uid, st.gid);
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}
