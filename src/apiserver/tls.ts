// Serving certificates. kubectl (client-go) sends bearer tokens only over TLS,
// so the API server speaks HTTPS: a cluster CA and a serving certificate for
// 127.0.0.1/localhost, made once with the openssl CLI and kept in the data dir
// (or a temp dir) so kubeconfigs stay valid across restarts.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ServingCerts {
  caPem: string;
  certPem: string;
  keyPem: string;
}

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: Buffer; code?: string };
    if (err.code === 'ENOENT') throw new Error('openssl is not installed (apt-get install openssl): it is needed to make the serving certificate');
    throw new Error(`openssl ${args[0]} failed: ${err.stderr?.toString().trim().split('\n')[0] ?? String(e)}`);
  }
}

/** Loads the certificates from dir/pki, making them first when absent. `dir` undefined = throwaway. */
export function ensureServingCerts(dir: string | undefined, extraSANs: string[] = []): ServingCerts {
  const pki = dir ? join(dir, 'pki') : mkdtempSync(join(tmpdir(), 'svcnet-pki-'));
  try {
    mkdirSync(pki, { recursive: true, mode: 0o700 });
    const f = (n: string) => join(pki, n);
    if (!existsSync(f('ca.crt')) || !existsSync(f('ca.key'))) {
      openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '3650', '-subj', '/CN=svcnet-ca',
        '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], pki);
    }
    const sans = ['IP:127.0.0.1', 'IP:::1', 'DNS:localhost', 'DNS:kubernetes', 'DNS:kubernetes.default',
      'DNS:kubernetes.default.svc', 'DNS:kubernetes.default.svc.cluster.local', ...extraSANs];
    const sanLine = `subjectAltName=${sans.join(',')}`;
    const sansFile = f('apiserver.sans');
    const fresh = existsSync(sansFile) && readFileSync(sansFile, 'utf8') === sanLine && existsSync(f('apiserver.crt'));
    if (!fresh) {
      openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-keyout', 'apiserver.key', '-out', 'apiserver.csr', '-subj', '/CN=kube-apiserver'], pki);
      writeFileSync(f('apiserver.ext'), `${sanLine}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n`);
      openssl(['x509', '-req', '-in', 'apiserver.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
        '-out', 'apiserver.crt', '-days', '3650', '-extfile', 'apiserver.ext'], pki);
      writeFileSync(sansFile, sanLine);
    }
    return {
      caPem: readFileSync(f('ca.crt'), 'utf8'),
      certPem: readFileSync(f('apiserver.crt'), 'utf8'),
      keyPem: readFileSync(f('apiserver.key'), 'utf8'),
    };
  } finally {
    if (!dir) rmSync(pki, { recursive: true, force: true });
  }
}
