import type { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import type { AgentOptions } from 'node:https';
import { ConfigError } from '../../core/errors.js';

type Pem = string | Buffer;

/** A backend's `tls` setting, validated (see `upstreamTlsSchema` in the options). */
export interface UpstreamTlsSettings {
  readonly ca?: Pem | readonly Pem[] | undefined;
  readonly caFile?: string | undefined;
  readonly cert?: Pem | undefined;
  readonly certFile?: string | undefined;
  readonly key?: Pem | undefined;
  readonly keyFile?: string | undefined;
  readonly passphrase?: string | undefined;
  readonly servername?: string | undefined;
  readonly rejectUnauthorized?: boolean | undefined;
}

function read(file: string, path: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new ConfigError(path, file, `a readable file (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`);
  }
}

/**
 * The `https.Agent` TLS options of a backend's `tls` setting: files are read
 * now (a missing one is a `ConfigError` naming `<path>.tls.caFile`...), PEM
 * text is passed as is. `undefined` without settings.
 *
 * @example
 * ```ts
 * import { upstreamTls } from './upstream-tls.js';
 * upstreamTls({ caFile: '/etc/ssl/internal-ca.pem', servername: 'api.internal' }, 'backends[0]');
 * ```
 */
export function upstreamTls(tls: UpstreamTlsSettings | undefined, path: string): AgentOptions | undefined {
  if (!tls) return undefined;
  const at = `${path}.tls`;
  if (tls.ca !== undefined && tls.caFile !== undefined)
    throw new ConfigError(`${at}.caFile`, tls.caFile, 'ca or caFile, not both');
  if (tls.cert !== undefined && tls.certFile !== undefined)
    throw new ConfigError(`${at}.certFile`, tls.certFile, 'cert or certFile, not both');
  if (tls.key !== undefined && tls.keyFile !== undefined)
    throw new ConfigError(`${at}.keyFile`, tls.keyFile, 'key or keyFile, not both');
  const cert = tls.certFile === undefined ? tls.cert : read(tls.certFile, `${at}.certFile`);
  const key = tls.keyFile === undefined ? tls.key : read(tls.keyFile, `${at}.keyFile`);
  if ((cert === undefined) !== (key === undefined)) {
    throw new ConfigError(
      `${at}.${cert === undefined ? 'cert' : 'key'}`,
      undefined,
      'a client certificate and its key together',
    );
  }
  const out: AgentOptions = {};
  const ca = tls.caFile === undefined ? tls.ca : read(tls.caFile, `${at}.caFile`);
  if (ca !== undefined) out.ca = ca as AgentOptions['ca'];
  if (cert !== undefined) out.cert = cert;
  if (key !== undefined) out.key = key;
  if (tls.passphrase !== undefined) out.passphrase = tls.passphrase;
  if (tls.servername !== undefined) out.servername = tls.servername;
  if (tls.rejectUnauthorized !== undefined) out.rejectUnauthorized = tls.rejectUnauthorized;
  return out;
}
