import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** A certificate and its key, as files and PEM text. */
export interface Pem {
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: string;
  readonly key: string;
}

/** Test certificates made at run time with the openssl CLI: nothing private is committed. */
export interface CertKit {
  readonly dir: string;
  readonly ca: Pem;
  /** A server certificate for `names` (DNS SANs, wildcards allowed, plus IP 127.0.0.1), signed by the CA. */
  server(name: string, names: string[]): Pem;
  /** A client certificate with subject CN `cn`, signed by `ca` (default: the kit's CA). */
  client(name: string, cn: string, ca?: Pem): Pem;
  /** Another self-signed CA, for certificates nobody trusts. */
  otherCa(name: string): Pem;
  remove(): void;
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: 'pipe' });
}

/** Writes `<name>.key` (EC P-256) and a self-signed `<name>.crt` for `subject` into `dir`. */
function selfSigned(dir: string, name: string, subject: string, extensions: string[] = []): Pem {
  const key = path.join(dir, `${name}.key`);
  const cert = path.join(dir, `${name}.crt`);
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key]);
  openssl([
    'req',
    '-x509',
    '-new',
    '-key',
    key,
    '-sha256',
    '-days',
    '2',
    '-subj',
    subject,
    ...extensions.flatMap((e) => ['-addext', e]),
    '-out',
    cert,
  ]);
  return pem(cert, key);
}

/** A throw-away self-signed certificate for localhost / 127.0.0.1 / ::1. */
export interface TestCertificate {
  readonly key: Buffer;
  readonly cert: Buffer;
}

let cached: TestCertificate | undefined;

/**
 * A self-signed certificate for localhost, 127.0.0.1 and ::1, made at run
 * time with the openssl CLI (no key is ever committed), once per test process.
 */
export function testCertificate(): TestCertificate {
  if (cached) return cached;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'switchyard-tls-'));
  try {
    const made = selfSigned(dir, 'localhost', '/CN=localhost', ['subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1']);
    cached = { key: Buffer.from(made.key), cert: Buffer.from(made.cert) };
    return cached;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function pem(certFile: string, keyFile: string): Pem {
  return { certFile, keyFile, cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
}

/**
 * Makes a CA in a fresh temporary directory (EC P-256 keys: fast to make).
 * Call `remove()` when done.
 */
export function certKit(): CertKit {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'switchyard-certs-'));
  const file = (name: string) => path.join(dir, name);
  const makeCa = (name: string): Pem => selfSigned(dir, name, `/CN=${name}`);
  const ca = makeCa('test-ca');
  let serial = 1;
  const sign = (name: string, subject: string, ext: string, by: Pem): Pem => {
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', file(`${name}.key`)]);
    openssl(['req', '-new', '-key', file(`${name}.key`), '-subj', subject, '-out', file(`${name}.csr`)]);
    writeFileSync(file(`${name}.ext`), ext);
    openssl([
      'x509',
      '-req',
      '-in',
      file(`${name}.csr`),
      '-CA',
      by.certFile,
      '-CAkey',
      by.keyFile,
      '-set_serial',
      String(serial++),
      '-days',
      '2',
      '-sha256',
      '-extfile',
      file(`${name}.ext`),
      '-out',
      file(`${name}.crt`),
    ]);
    return pem(file(`${name}.crt`), file(`${name}.key`));
  };
  return {
    dir,
    ca,
    server(name, names) {
      const san = [...names.map((n) => `DNS:${n}`), 'IP:127.0.0.1'].join(',');
      return sign(name, `/CN=${names[0]}`, `subjectAltName=${san}\nextendedKeyUsage=serverAuth\n`, ca);
    },
    client(name, cn, by = ca) {
      return sign(name, `/CN=${cn}/O=switchyard-test`, 'extendedKeyUsage=clientAuth\n', by);
    },
    otherCa: makeCa,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
