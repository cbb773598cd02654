// Chart versions come from one place, the root package.json "version": every Chart.yaml's version
// and appVersion (the default image tag) and the keiko-lib dependency version follow it.
//
//   tsx charts/scripts/versions.ts           write the version into every Chart.yaml
//   tsx charts/scripts/versions.ts --check   exit 1 when a Chart.yaml disagrees (the chart tests and release run this)
//
// Chart.yaml is edited line by line, not re-serialized, so its comments survive.
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

export interface VersionDrift {
  chart: string;
  field: string;
  found: string;
  want: string;
}

export function rootVersion(repoRoot: string): string {
  return (JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string })
    .version;
}

/** Chart.yaml with version/appVersion and the keiko-lib dependency set to `version`, and what differed. */
export function syncChartYaml(
  chart: string,
  text: string,
  version: string,
): { text: string; drift: VersionDrift[] } {
  const drift: VersionDrift[] = [];
  const set = (re: RegExp, field: string, render: (v: string) => string) => {
    text = text.replace(re, (line: string, prefix: string, found: string) => {
      const bare = found.replace(/^["']|["']$/g, '');
      if (bare !== version) drift.push({ chart, field, found: bare, want: version });
      return `${prefix}${render(version)}`;
    });
  };
  set(/^(version:[ \t]*)(\S+)[ \t]*$/m, 'version', (v) => v);
  // Quoted (a bare 1.10 would be a YAML number), in the single quotes prettier's config asks for.
  set(/^(appVersion:[ \t]*)(\S+)[ \t]*$/m, 'appVersion', (v) => `'${v}'`);
  // The `version:` of the keiko-lib entry under dependencies (within the same list item).
  set(
    /^([ \t]*-[ \t]+name:[ \t]*keiko-lib[ \t]*\n(?:[ \t]+(?![ \t]|-)[^\n]*\n)*?[ \t]+version:[ \t]*)(\S+)[ \t]*$/m,
    'dependencies.keiko-lib.version',
    (v) => v,
  );
  return { text, drift };
}

export function syncCharts(repoRoot: string, opts: { check: boolean }): VersionDrift[] {
  const version = rootVersion(repoRoot);
  const chartsDir = path.join(repoRoot, 'charts');
  const drift: VersionDrift[] = [];
  for (const d of fs.readdirSync(chartsDir, { withFileTypes: true })) {
    const file = path.join(chartsDir, d.name, 'Chart.yaml');
    if (!d.isDirectory() || !fs.existsSync(file)) continue;
    const before = fs.readFileSync(file, 'utf8');
    const after = syncChartYaml(d.name, before, version);
    drift.push(...after.drift);
    if (!opts.check && after.text !== before) fs.writeFileSync(file, after.text);
  }
  return drift;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const check = process.argv.includes('--check');
  const repoRoot = path.resolve(import.meta.dirname, '..', '..');
  const drift = syncCharts(repoRoot, { check });
  for (const d of drift)
    console[check ? 'error' : 'log'](`charts/${d.chart}/Chart.yaml ${d.field}: ${d.found} -> ${d.want}`);
  if (check && drift.length) {
    console.error('chart versions differ from package.json; run: npx tsx charts/scripts/versions.ts');
    process.exitCode = 1;
  } else console.log(`charts at version ${rootVersion(repoRoot)}`);
}
