/**
 * The parse pool's worker: one probe answer in (its text, nonce and the host's context), its snapshot out. Runs the
 * same pure parse and snapshot as the main thread would; an answer that cannot be split comes back as its message.
 */
import { parentPort } from 'node:worker_threads';
import { splitProbeResponse } from './parse.js';
import { buildSnapshot } from './snapshot.js';
import type { ParseJob, ParseReply } from './parse-pool.js';

parentPort?.on('message', (job: ParseJob) => {
  let reply: ParseReply;
  try {
    const { text, nonce, ...rest } = job.input;
    reply = { id: job.id, snapshot: buildSnapshot({ ...rest, response: splitProbeResponse(text, nonce) }) };
  } catch (err) {
    reply = { id: job.id, error: err instanceof Error ? err.message : String(err) };
  }
  parentPort?.postMessage(reply);
});
