// Pure helpers of the footprint bench: an image's command line from its Dockerfile, and the statistics.

export interface ImageCommand {
  command: string;
  args: string[];
  env: Record<string, string>;
}

/**
 * The final stage's ENTRYPOINT (exec form) + CMD and ENV of a Dockerfile, with `node` replaced by `node`
 * (the Node binary to use) and paths under `/app/` by `appDir` (where the image's /app/ comes from).
 */
export function imageCommand(dockerfile: string, node: string, appDir: string): ImageCommand {
  const lines = dockerfile.split('\n');
  const lastFrom = lines.map((l) => /^FROM\s/i.test(l)).lastIndexOf(true);
  const stage = lines.slice(lastFrom);
  const exec = (kw: string): string[] => {
    const line = [...stage].reverse().find((l) => new RegExp(`^${kw}\\s`, 'i').test(l));
    if (!line) return [];
    const arr = JSON.parse(line.replace(new RegExp(`^${kw}\\s+`, 'i'), '')) as unknown;
    if (!Array.isArray(arr)) throw new Error(`${kw} is not in exec form: ${line}`);
    return arr.map(String);
  };
  const argv = [...exec('ENTRYPOINT'), ...exec('CMD')].map((a) =>
    a.startsWith('/app/') ? appDir + a.slice('/app/'.length) : a,
  );
  if (argv.length === 0) throw new Error('the Dockerfile has no ENTRYPOINT or CMD in exec form');
  const env: Record<string, string> = {};
  for (const l of stage) {
    const m = /^ENV\s+(.*)$/i.exec(l);
    if (!m?.[1]) continue;
    for (const kv of m[1].match(/\S+=("[^"]*"|\S+)/g) ?? []) {
      const i = kv.indexOf('=');
      env[kv.slice(0, i)] = kv.slice(i + 1).replace(/^"|"$/g, '');
    }
  }
  const [first, ...args] = argv;
  return { command: first === 'node' ? node : (first ?? node), args, env };
}

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

/**
 * Growth in MB per hour: the median of the window's last quarter minus the median of its first quarter,
 * over the time between them. Medians, not a fitted line: garbage collection moves RSS by tens of MB in
 * seconds, and a least-squares line over a few minutes follows those swings.
 */
export function growthPerHour(samples: { at: number; mb: number }[]): number {
  if (samples.length < 4) return NaN;
  const q = Math.max(1, Math.floor(samples.length / 4));
  const first = samples.slice(0, q);
  const last = samples.slice(-q);
  const mid = (xs: { at: number }[]) => median(xs.map((x) => x.at));
  const hours = (mid(last) - mid(first)) / 3_600_000;
  return hours > 0 ? (median(last.map((s) => s.mb)) - median(first.map((s) => s.mb))) / hours : NaN;
}
