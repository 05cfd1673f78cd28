/**
 * Why a connection to the rendezvous failed, in words: a name that does not
 * resolve, nothing listening, no answer, or a certificate this peer does not
 * trust all arrive from socket.io-client as "websocket error"; the cause is in
 * the error's `description` (the WebSocket's ErrorEvent, whose `error` is Node's).
 */
import { SealdropError } from '../../shared/errors.js';

const CERT_CODES = /CERT|SELF_SIGNED|UNABLE_TO_(GET_ISSUER|VERIFY)|ALTNAME|ERR_TLS/;
const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NONAME', 'EAI_NODATA']);

interface ConnectError extends Error { description?: { error?: NodeJS.ErrnoException; message?: string } | NodeJS.ErrnoException }

function causeOf(err: ConnectError): NodeJS.ErrnoException | undefined {
  const d = err.description as { error?: NodeJS.ErrnoException } | undefined;
  if (d?.error instanceof Error) return d.error;
  if (d instanceof Error) return d as NodeJS.ErrnoException;
  return undefined;
}

export function connectFailure(url: string, err: ConnectError, timeoutMs: number): SealdropError {
  let host = url;
  try { host = new URL(url).host; } catch { /* keep the URL as given */ }
  const cause = causeOf(err);
  const code = cause?.code ?? '';
  const fail = (message: string, hint: string) => new SealdropError('ERR_CONNECT', message, { cause: err, hint });
  if (DNS_CODES.has(code)) {
    return fail(`cannot find the host ${host} (DNS lookup failed: ${code})`, 'check the spelling of the server URL, and that this machine can resolve names');
  }
  if (code === 'ECONNREFUSED') {
    return fail(`nothing is listening at ${host} (connection refused)`, 'check the port in the server URL, and that `sealdrop-rendezvous serve` is running there');
  }
  if (CERT_CODES.test(code)) {
    return fail(`the rendezvous at ${host} has a certificate this computer does not trust (${code})`,
      'if your operator uses a private CA, pass its certificate with --ca FILE (or "ca" in config.json, or NODE_EXTRA_CA_CERTS=FILE)');
  }
  if (code === 'EPROTO' || /wrong version number|packet length too long/i.test(cause?.message ?? '')) {
    return fail(`${host} does not answer in TLS (is it an http:// server?)`, `try the server URL with http:// instead of https://`);
  }
  if (code === 'ECONNRESET' || /socket hang up/.test(cause?.message ?? '')) {
    return fail(`${host} closed the connection before answering`, 'check the scheme: a rendezvous serving https needs an https:// URL (and one without TLS an http:// URL)');
  }
  if (code === 'ETIMEDOUT' || err.message === 'timeout') {
    return fail(`no answer from the rendezvous at ${host} within ${timeoutMs / 1000} s`, 'check the server URL, and that no firewall is in the way');
  }
  if (code === 'ENETUNREACH' || code === 'EHOSTUNREACH') {
    return fail(`cannot reach ${host}: no route to it (${code})`, 'check your network connection');
  }
  if (/Unexpected server response: 404/.test(cause?.message ?? '')) {
    return fail(`${url} answers, but not as a sealdrop rendezvous (HTTP 404)`, 'use the rendezvous root URL, e.g. https://host:port, without a path');
  }
  const detail = cause?.message ?? err.message;
  return fail(`cannot reach the rendezvous at ${host}: ${detail}`, 'check the server URL, that the rendezvous is running, and your network');
}
