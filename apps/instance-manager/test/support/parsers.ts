// Real parsers as independent judges of rendered user data: Python's tomllib (3.11+, the test harness
// already needs Python for moto) for Bottlerocket's TOML, `bash -n` for shell parts.
import { spawnSync } from 'node:child_process';

const TOML_TO_JSON = [
  'import json, sys, tomllib',
  'try:',
  '    print(json.dumps(tomllib.loads(sys.stdin.read())))',
  'except tomllib.TOMLDecodeError as e:',
  '    print("ERR " + str(e))',
].join('\n');

/** The TOML document as JSON, or the parser's complaint. */
export function parseToml(
  text: string,
): { ok: true; value: Record<string, unknown> } | { ok: false; error: string } {
  const py = spawnSync('python3', ['-c', TOML_TO_JSON], { input: text, encoding: 'utf8' });
  if (py.status !== 0)
    throw new Error(`python3 with tomllib (Python 3.11+) is needed to check TOML: ${py.stderr}`);
  return py.stdout.startsWith('ERR ')
    ? { ok: false, error: py.stdout.slice(4).trim() }
    : { ok: true, value: JSON.parse(py.stdout) as Record<string, unknown> };
}

/** 'ok', or bash's syntax errors. */
export function bashSyntax(script: string): string {
  const r = spawnSync('bash', ['-n'], { input: script, encoding: 'utf8' });
  return r.status === 0 ? 'ok' : r.stderr;
}
