// Reading a workflow source: inline text, a file in the controller (a mounted ConfigMap), or a URL
// (HTTPS with verifyCert). I/O; errors name the field.
import fs from 'node:fs/promises';
import https from 'node:https';
import http from 'node:http';
import path from 'node:path';
import type { HealthCheckWorkflow } from '@keiko/api';

const MAX_BYTES = 1 << 20;

/**
 * The workflow document of a source. A file path resolves against `workflowDir` (the controller's
 * --workflow-dir, where a ConfigMap of workflows is mounted) and must stay inside it: whoever may create a
 * HealthCheck must not make the controller read its own files (its ServiceAccount token).
 */
export async function readSource(
  wf: HealthCheckWorkflow,
  field: string,
  workflowDir: string | undefined,
  timeoutMs = 10_000,
): Promise<string> {
  const src = wf.resource?.source;
  if (src?.inline !== undefined) return src.inline;
  if (src?.file?.path) {
    try {
      return await fs.readFile(await insideDir(workflowDir, src.file.path), 'utf8');
    } catch (err) {
      throw new Error(`${field}.resource.source.file.path ${src.file.path}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
  if (src?.url?.path) {
    try {
      return await fetchText(src.url.path, src.url.verifyCert ?? false, timeoutMs);
    } catch (err) {
      throw new Error(`${field}.resource.source.url.path ${src.url.path}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
  throw new Error(`${field}.resource.source: one of inline, url.path or file.path is required`);
}

/** The real path of `file` under `dir`, refused when there is no dir or the path leaves it. */
async function insideDir(dir: string | undefined, file: string): Promise<string> {
  if (!dir) throw new Error('no --workflow-dir is set (chart value workflowsConfigMap) to read files from');
  const root = await fs.realpath(dir);
  const real = await fs.realpath(path.resolve(root, file));
  if (real !== root && real.startsWith(root + path.sep)) return real;
  throw new Error(`is outside --workflow-dir ${dir}`);
}

/** GET a document; `verifyCert: false` accepts any server certificate (upstream's default). */
export function fetchText(url: string, verifyCert: boolean, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const get = u.protocol === 'https:' ? https.get : u.protocol === 'http:' ? http.get : undefined;
    if (!get) return reject(new Error(`unsupported scheme ${u.protocol}`));
    const req = get(u, { rejectUnauthorized: verifyCert, timeout: timeoutMs }, (res) => {
      if ((res.statusCode ?? 0) >= 300) {
        res.resume();
        return reject(new Error(`HTTP ${res.statusCode}`));
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BYTES) req.destroy(new Error('document larger than 1 MiB'));
        else chunks.push(c);
      });
      res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs / 1000}s`)));
    req.on('error', reject);
  });
}
