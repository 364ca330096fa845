import type { Buffer } from 'node:buffer';
import { type FSWatcher, readFileSync, watch } from 'node:fs';
import type https from 'node:https';
import path from 'node:path';
import tls, { type SecureContext, type SecureContextOptions } from 'node:tls';
import { ConfigError } from '../core/errors.js';
import type { TlsSettings } from './config-file.js';

/**
 * Mozilla's "intermediate" TLS 1.2 suites (forward secrecy, AEAD only),
 * after the TLS 1.3 ones.
 */
export const DEFAULT_CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

function read(file: string, at: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new ConfigError(at, file, `a readable PEM file (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`);
  }
}

interface Loaded {
  readonly base: SecureContextOptions;
  readonly exact: Map<string, SecureContext>;
  readonly wildcard: Map<string, SecureContext>;
  readonly files: string[];
}

/**
 * The verified subject of a client certificate, `CN=alice,O=example`, or
 * `undefined` when the peer sent none or it did not verify.
 *
 * @example
 * ```ts
 * import { peerSubject } from './tls.js';
 * const subject = peerSubject(req.socket as TLSSocket);
 * ```
 */
export function peerSubject(socket: tls.TLSSocket): string | undefined {
  if (!socket.authorized) return undefined;
  const subject = socket.getPeerCertificate()?.subject as Record<string, string | string[]> | undefined;
  if (!subject) return undefined;
  return Object.entries(subject)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : v}`)
    .join(',')
    .replace(/[\r\n]/g, ' ');
}

/**
 * The certificates of one HTTPS listener: the default one, the SNI ones
 * (exact names, then `*.example.com` for one label), the client CA, and
 * their reload (`setSecureContext`, on SIGHUP or when a file changes).
 *
 * @example
 * ```ts
 * import { ListenerTls } from './tls.js';
 * declare const settings: ConstructorParameters<typeof ListenerTls>[0];
 * declare const handler: import('node:http').RequestListener;
 * const certs = new ListenerTls(settings, 'listeners[0].tls');
 * const server = https.createServer(certs.serverOptions(), handler);
 * certs.watch(server, console.error, () => console.log('reloaded'));
 * ```
 */
export class ListenerTls {
  #settings: TlsSettings;
  #at: string;
  #loaded: Loaded;
  #watchers: FSWatcher[] = [];
  #timer: NodeJS.Timeout | undefined;

  /** Reads every file now: a missing or bad one throws `ConfigError` naming `<at>.cert`... */
  constructor(settings: TlsSettings, at: string) {
    this.#settings = settings;
    this.#at = at;
    this.#loaded = this.#load(settings);
  }

  #load(settings: TlsSettings): Loaded {
    const at = this.#at;
    const files: string[] = [];
    const ca = settings.clientAuth ? read(settings.clientAuth.ca, `${at}.clientAuth.ca`) : undefined;
    if (settings.clientAuth) files.push(settings.clientAuth.ca);
    const common: SecureContextOptions = {
      minVersion: settings.minVersion,
      ciphers: settings.ciphers ?? DEFAULT_CIPHERS,
      honorCipherOrder: true,
      ...(ca ? { ca } : {}),
    };
    const context = (cert: string, key: string, passphrase: string | undefined, where: string) => {
      files.push(cert, key);
      const options: SecureContextOptions = {
        ...common,
        cert: read(cert, `${where}.cert`),
        key: read(key, `${where}.key`),
        ...(passphrase === undefined ? {} : { passphrase }),
      };
      try {
        return { options, context: tls.createSecureContext(options) };
      } catch (error) {
        throw new ConfigError(`${where}.cert`, cert, `a certificate matching its key (${(error as Error).message})`);
      }
    };
    const exact = new Map<string, SecureContext>();
    const wildcard = new Map<string, SecureContext>();
    let first: SecureContextOptions | undefined;
    (settings.certificates ?? []).forEach((c, i) => {
      const made = context(c.cert, c.key, c.passphrase, `${at}.certificates[${i}]`);
      first ??= made.options;
      for (const name of c.names) {
        if (name.startsWith('*.')) wildcard.set(name.slice(2), made.context);
        else exact.set(name, made.context);
      }
    });
    const base =
      settings.cert !== undefined && settings.key !== undefined
        ? context(settings.cert, settings.key, settings.passphrase, at).options
        : (first as SecureContextOptions);
    return { base, exact, wildcard, files };
  }

  /** Options for `https.createServer`: default certificate, SNI, client verification, protocol defaults. */
  serverOptions(): https.ServerOptions {
    const auth = this.#settings.clientAuth;
    return {
      ...this.#loaded.base,
      SNICallback: (name, done) => done(null, this.contextFor(name)),
      requestCert: auth !== undefined,
      rejectUnauthorized: auth?.required ?? false,
    };
  }

  /** The secure context for an SNI name (`undefined`: the default certificate). */
  contextFor(servername: string): SecureContext | undefined {
    const name = servername.toLowerCase();
    const { exact, wildcard } = this.#loaded;
    const found = exact.get(name);
    if (found) return found;
    const dot = name.indexOf('.');
    return dot === -1 ? undefined : wildcard.get(name.slice(dot + 1));
  }

  /** Header to carry the verified client subject, if configured. */
  get subjectHeader(): string | undefined {
    return this.#settings.clientAuth?.header;
  }

  /**
   * Re-reads the files (new `settings` on a config reload) and applies them
   * to `server` for new handshakes. Throws `ConfigError` and keeps the
   * current certificates when a file is missing or bad.
   */
  reload(server: https.Server, settings: TlsSettings = this.#settings): void {
    const loaded = this.#load(settings);
    server.setSecureContext(loaded.base);
    this.#settings = settings;
    this.#loaded = loaded;
  }

  /**
   * Watches the certificate files' directories (a rename-into-place counts);
   * calls `reload` a moment after the last change.
   */
  watch(server: https.Server, log: (error: unknown) => void, onReload: () => void): void {
    this.unwatch();
    if (!this.#settings.watch) return;
    const names = new Map<string, Set<string>>();
    for (const file of this.#loaded.files) {
      const dir = path.dirname(path.resolve(file));
      const set = names.get(dir) ?? new Set<string>();
      set.add(path.basename(file));
      names.set(dir, set);
    }
    for (const [dir, set] of names) {
      try {
        const watcher = watch(dir, { persistent: false }, (_event, name) => {
          if (name !== null && !set.has(String(name))) return;
          clearTimeout(this.#timer);
          // Writers replace a key and a certificate one after the other: wait for both.
          this.#timer = setTimeout(() => {
            try {
              this.reload(server);
              onReload();
            } catch (error) {
              log(error);
            }
          }, 200);
          this.#timer.unref();
        });
        watcher.on('error', log);
        this.#watchers.push(watcher);
      } catch (error) {
        log(error);
      }
    }
  }

  unwatch(): void {
    clearTimeout(this.#timer);
    for (const w of this.#watchers) w.close();
    this.#watchers = [];
  }
}
