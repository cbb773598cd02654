// Writes the "Values" table of every chart's README.md from its values.yaml: each key's `# --`
// comment is its description, the value its default. The table sits between the markers
// <!-- values:start --> and <!-- values:end -->; the rest of the README is written by hand.
//
//   tsx charts/scripts/values-doc.ts           rewrite every README whose table is stale
//   tsx charts/scripts/values-doc.ts --check   only report; exit 1 when a README is stale or a key undocumented
//
// Comment convention (helm-docs'): a `# -- text` line, optionally continued by further `#` lines,
// directly above the key it documents. A documented object is one row (its children need no
// comments); an undocumented object is looked into, and each of its keys needs a comment. Keys
// inside lists are never rows.
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { load } from 'js-yaml';

export const TABLE_START = '<!-- values:start -->';
export const TABLE_END = '<!-- values:end -->';

export interface ValueDoc {
  /** Dotted path, e.g. `image.repository`. */
  key: string;
  type: string;
  /** The default as JSON. */
  default: string;
  description: string;
}

export interface ValuesDoc {
  rows: ValueDoc[];
  /** Keys with neither their own `# --` comment nor a documented ancestor. */
  undocumented: string[];
}

type Yaml = null | string | number | boolean | Yaml[] | { [key: string]: Yaml };

const isObject = (v: Yaml | undefined): v is { [key: string]: Yaml } =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function typeOf(v: Yaml | undefined): string {
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return 'list';
  if (typeof v === 'object') return 'object';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float';
  if (typeof v === 'boolean') return 'bool';
  return 'string';
}

function unquote(key: string): string {
  return /^(["']).*\1$/.test(key) ? key.slice(1, -1) : key;
}

/** Path (as segments) -> description, in file order, from the `# --` comments. */
export function documentedPaths(text: string): Map<string[], string> {
  const docs = new Map<string[], string>();
  const stack: { indent: number; key: string }[] = [];
  let pending: string[] | undefined;
  for (const line of text.split('\n')) {
    if (!line.trim()) {
      pending = undefined; // a comment documents the key right below it, not one after a blank line
      continue;
    }
    const comment = /^\s*#\s?(.*)$/.exec(line);
    if (comment) {
      const body = comment[1] ?? '';
      if (body === '--' || body.startsWith('-- ')) pending = [body.slice(3)];
      else pending?.push(body);
      continue;
    }
    const indent = line.length - line.trimStart().length;
    const item = /^(\s*)-(\s|$)/.exec(line);
    if (item) {
      // A list item: keys below it belong to the list, and are never rows of their own.
      while (stack.length && stack[stack.length - 1]!.indent >= indent) stack.pop();
      stack.push({ indent, key: '[]' });
      pending = undefined;
      continue;
    }
    const key = /^\s*("[^"]*"|'[^']*'|[^\s#:][^#:]*?)\s*:(\s|$)/.exec(line);
    if (key) {
      while (stack.length && stack[stack.length - 1]!.indent >= indent) stack.pop();
      stack.push({ indent, key: unquote(key[1]!) });
      const segments = stack.map((s) => s.key);
      if (pending && !segments.includes('[]')) docs.set(segments, pending.join(' ').trim());
    }
    pending = undefined;
  }
  return docs;
}

/** The rows of the values table and the keys that lack a description. */
export function parseValuesDoc(text: string): ValuesDoc {
  const values = (load(text) ?? {}) as Yaml;
  const docs = documentedPaths(text);
  const valueAt = (segments: string[]): Yaml | undefined =>
    segments.reduce<Yaml | undefined>((v, s) => (isObject(v) ? v[s] : undefined), values);
  const rows = [...docs].map(([segments, description]) => {
    const v = valueAt(segments);
    return { key: segments.join('.'), type: typeOf(v), default: JSON.stringify(v ?? null), description };
  });
  const documented = new Set(rows.map((r) => r.key));
  const undocumented: string[] = [];
  const walk = (obj: { [key: string]: Yaml }, prefix: string[]) => {
    for (const [k, v] of Object.entries(obj)) {
      const p = [...prefix, k];
      if (documented.has(p.join('.'))) continue;
      if (isObject(v) && Object.keys(v).length) walk(v, p);
      else undocumented.push(p.join('.'));
    }
  };
  if (isObject(values)) walk(values, []);
  return { rows, undocumented };
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function valuesTable(rows: ValueDoc[]): string {
  return [
    '| Key | Type | Default | Description |',
    '| --- | --- | --- | --- |',
    ...rows.map(
      (r) => `| \`${cell(r.key)}\` | ${r.type} | \`${cell(r.default)}\` | ${cell(r.description)} |`,
    ),
  ].join('\n');
}

/**
 * The README with a fresh table, formatted by the repository's prettier config so that `npm run
 * format:check` and this script never disagree about the same file.
 */
export async function renderReadme(readmeFile: string, readme: string, valuesText: string): Promise<string> {
  const start = readme.indexOf(TABLE_START);
  const end = readme.indexOf(TABLE_END);
  if (start < 0 || end < start)
    throw new Error(`${readmeFile}: needs the markers ${TABLE_START} and ${TABLE_END}`);
  const { rows } = parseValuesDoc(valuesText);
  const text = `${readme.slice(0, start + TABLE_START.length)}\n\n${valuesTable(rows)}\n\n${readme.slice(end)}`;
  const prettier = await import('prettier');
  const config = (await prettier.resolveConfig(readmeFile)) ?? {};
  return prettier.format(text, { ...config, filepath: readmeFile });
}

export interface DocumentedChart {
  name: string;
  readme: string;
  values: string;
}

/** Every chart's README and the values file it documents (keiko-lib: the values common to all charts). */
export function documentedCharts(chartsDir: string): DocumentedChart[] {
  return fs
    .readdirSync(chartsDir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && fs.existsSync(path.join(chartsDir, d.name, 'Chart.yaml')))
    .map((d) => {
      const dir = path.join(chartsDir, d.name);
      const values = ['values.yaml', 'values.common.yaml']
        .map((f) => path.join(dir, f))
        .find((f) => fs.existsSync(f));
      return values ? { name: d.name, readme: path.join(dir, 'README.md'), values } : undefined;
    })
    .filter((c): c is DocumentedChart => c !== undefined);
}

export interface DocResult {
  chart: string;
  stale: boolean;
  undocumented: string[];
}

/** Checks (and unless `check`, rewrites) every chart's README. */
export async function updateReadmes(chartsDir: string, opts: { check: boolean }): Promise<DocResult[]> {
  const results: DocResult[] = [];
  for (const chart of documentedCharts(chartsDir)) {
    const valuesText = fs.readFileSync(chart.values, 'utf8');
    const current = fs.existsSync(chart.readme) ? fs.readFileSync(chart.readme, 'utf8') : '';
    const fresh = await renderReadme(chart.readme, current, valuesText);
    const stale = fresh !== current;
    if (stale && !opts.check) fs.writeFileSync(chart.readme, fresh);
    results.push({ chart: chart.name, stale, undocumented: parseValuesDoc(valuesText).undocumented });
  }
  return results;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const check = process.argv.includes('--check');
  const results = await updateReadmes(path.resolve(import.meta.dirname, '..'), { check });
  for (const r of results) {
    if (r.undocumented.length) {
      console.error(`${r.chart}: values without a "# --" description: ${r.undocumented.join(', ')}`);
      process.exitCode = 1;
    }
    if (r.stale && check) {
      console.error(`${r.chart}: README.md values table is stale; run: npx tsx charts/scripts/values-doc.ts`);
      process.exitCode = 1;
    } else if (r.stale) console.log(`wrote charts/${r.chart}/README.md`);
  }
  if (!process.exitCode)
    console.log(`${results.length} chart READMEs ${check ? 'are up to date' : 'written'}`);
}
