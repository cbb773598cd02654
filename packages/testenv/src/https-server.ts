// A local HTTPS server with a self-signed certificate (made by openssl for 127.0.0.1), serving fixed
// documents by path: what a test needs to fetch a document over HTTPS, with and without certificate
// verification. Not a stand-in for anything: a plain web server.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';

export interface HttpsDocumentServer {
  /** https://127.0.0.1:<port> */
  url: string;
  stop(): Promise<void>;
}

export async function startHttpsServer(documents: Record<string, string>): Promise<HttpsDocumentServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keiko-https-'));
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'ignore' },
  );
  const server = https.createServer(
    { key: fs.readFileSync(key), cert: fs.readFileSync(cert) },
    (req, res) => {
      const body = documents[req.url ?? ''];
      res.writeHead(body === undefined ? 404 : 200, { 'content-type': 'application/yaml' });
      res.end(body ?? 'not found');
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `https://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
        fs.rmSync(dir, { recursive: true, force: true });
      }),
  };
}
