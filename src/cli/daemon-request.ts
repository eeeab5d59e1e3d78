// One HTTP/1.1 request to the running daemon's status server, written on a
// plain socket. The CLI asks only its own daemon (http://, usually loopback),
// and Node's HTTP client costs more to load than the rest of `status`:
// importing node:http is about 80 ms of CPU and fetch about 130 ms, against
// under 20 ms for node:net and this file. The status server answers with a
// Content-Length (or closes the connection); chunked bodies are decoded too.
import { connect } from 'node:net';
import { SgeventdError } from '../shared/index.ts';

export interface DaemonReply {
  status: number;
  body: string;
}

/** A failed request: DAEMON_API_FAILED, naming the URL (never a header, which may hold the token). */
function failed(url: string, why: string, details: Record<string, unknown> = {}, cause?: unknown): SgeventdError {
  return new SgeventdError('DAEMON_API_FAILED', `${url}: ${why}`, { details: { url, ...details }, ...(cause === undefined ? {} : { cause }) });
}

/** The body of a complete response, or null while more must be read. */
function bodyOf(head: string, rest: Buffer, ended: boolean, url: string): Buffer | null {
  const length = /^content-length:\s*(\d+)\s*$/im.exec(head);
  if (length !== null) {
    const n = Number(length[1]);
    if (rest.length >= n) return rest.subarray(0, n);
    if (ended) throw failed(url, `the answer ended after ${rest.length} of ${n} bytes`);
    return null;
  }
  if (/^transfer-encoding:\s*chunked\s*$/im.test(head)) {
    const parts: Buffer[] = [];
    let at = 0;
    for (;;) {
      const eol = rest.indexOf('\r\n', at);
      if (eol < 0) break;
      const size = Number.parseInt(rest.subarray(at, eol).toString('latin1'), 16);
      if (!Number.isFinite(size)) throw failed(url, 'the answer has a malformed chunk');
      if (size === 0) return Buffer.concat(parts);
      if (rest.length < eol + 2 + size + 2) break;
      parts.push(rest.subarray(eol + 2, eol + 2 + size));
      at = eol + 2 + size + 2;
    }
    if (ended) throw failed(url, 'the answer ended inside a chunked body');
    return null;
  }
  return ended ? rest : null;
}

/**
 * Sends `method path` to the status server at `base` (`http://host:port`) with
 * `headers`, and resolves with the status and the body once the answer is
 * complete. Rejects with DAEMON_API_FAILED when it cannot connect, the answer
 * is not HTTP, or `timeoutMs` passes.
 */
export function daemonRequest(base: string, method: 'GET' | 'POST', path: string, headers: Record<string, string>, timeoutMs: number): Promise<DaemonReply> {
  const url = `${base}${path}`;
  let target: URL;
  try {
    target = new URL(url);
  } catch (cause) {
    return Promise.reject(failed(url, 'not a URL', {}, cause));
  }
  if (target.protocol !== 'http:') return Promise.reject(failed(url, `only http:// status servers are asked, got ${target.protocol}`));
  const host = target.hostname.startsWith('[') ? target.hostname.slice(1, -1) : target.hostname;
  const port = Number(target.port || 80);
  const lines = [`${method} ${target.pathname}${target.search} HTTP/1.1`, `host: ${target.host}`, 'connection: close', 'content-length: 0'];
  for (const [k, v] of Object.entries(headers)) {
    // A line break in a value (a token read from the config, say) would end the header early.
    if (/[\r\n]/.test(`${k}${v}`)) return Promise.reject(failed(url, `the ${k} header holds a line break`, { header: k }));
    lines.push(`${k}: ${v}`);
  }
  return new Promise<DaemonReply>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let done = false;
    const socket = connect({ host, port });
    const finish = (err: Error | null, reply?: DaemonReply): void => {
      if (done) return;
      done = true;
      socket.destroy();
      if (err !== null) reject(err);
      else if (reply !== undefined) resolve(reply);
    };
    const settle = (ended: boolean): void => {
      const all = Buffer.concat(chunks);
      const split = all.indexOf('\r\n\r\n');
      if (split < 0) {
        if (ended) finish(failed(url, 'the answer ended before its headers'));
        return;
      }
      const head = all.subarray(0, split).toString('latin1');
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(head);
      if (status === null) {
        finish(failed(url, 'the answer is not HTTP/1.1'));
        return;
      }
      try {
        const body = bodyOf(head, all.subarray(split + 4), ended, url);
        if (body !== null) finish(null, { status: Number(status[1]), body: body.toString('utf8') });
      } catch (err) {
        finish(err as Error);
      }
    };
    socket.setTimeout(timeoutMs, () => finish(failed(url, `no answer within ${timeoutMs} ms`, { timeoutMs })));
    socket.on('connect', () => socket.write(`${lines.join('\r\n')}\r\n\r\n`));
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      settle(false);
    });
    socket.on('end', () => settle(true));
    socket.on('error', (err: NodeJS.ErrnoException) => finish(failed(url, `cannot reach the status server (${err.code ?? err.message})`, { code: err.code }, err)));
    socket.on('close', () => settle(true));
  });
}
