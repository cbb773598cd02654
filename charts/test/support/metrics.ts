// What a chart's dashboard and alerts query, and what a controller serves: metric names out of PromQL
// expressions and Grafana queries, and out of a Prometheus text exposition (/metrics).

/** PromQL words that are neither metrics nor functions. */
const KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'offset',
  'bool',
  'inf',
  'nan',
  'atan2',
]);

/**
 * The metric names a PromQL expression (or a Grafana query: `$var`, `${var}` and `label_values(...)`
 * allowed) selects. A small scanner, not a parser: strings, label matchers `{...}`, ranges `[...]`,
 * grouping label lists (`by (...)`, `on (...)`...), numbers and durations are dropped; an identifier
 * followed by `(` is a function; any other identifier is a metric name.
 */
export function metricNames(expr: string): string[] {
  let s = expr;
  // label_values(<selector>, <label>): only the selector names a metric.
  s = s.replace(/label_values\(\s*([^,()]*?)\s*,\s*[A-Za-z_][A-Za-z0-9_]*\s*\)/g, ' $1 ');
  s = s.replace(/label_values\(\s*[A-Za-z_][A-Za-z0-9_]*\s*\)/g, ' '); // label_values(label): no metric
  s = s.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""'); // string literals
  s = s.replace(/\{[^{}]*\}/g, ' '); // label matchers (strings already emptied)
  s = s.replace(/\[[^\]]*\]/g, ' '); // range and subquery selectors
  s = s.replace(/\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*/g, ' '); // Grafana variables
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)/g, ' '); // label lists
  s = s.replace(/\boffset\s+-?[0-9a-z]+/g, ' ');
  s = s.replace(/\b\d[0-9a-zA-Z.]*(?:[eE][+-]?\d+)?/g, ' '); // numbers, durations
  const names = new Set<string>();
  for (const m of s.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const rest = s.slice(m.index + m[0].length);
    if (/^\s*\(/.test(rest)) continue; // a function or aggregation
    if (KEYWORDS.has(m[0].toLowerCase())) continue;
    names.add(m[0]);
  }
  return [...names];
}

/**
 * The sample names a /metrics body serves, from its `# TYPE` lines (prom-client lists every registered
 * metric, samples or not) and its sample lines: a histogram serves `_bucket`, `_sum` and `_count`, a
 * summary its name, `_sum` and `_count`.
 */
export function servedNames(exposition: string): Set<string> {
  const served = new Set<string>();
  for (const line of exposition.split('\n')) {
    const type = /^# TYPE ([A-Za-z_:][A-Za-z0-9_:]*) (\w+)/.exec(line);
    if (type) {
      const [, name, kind] = type as unknown as [string, string, string];
      if (kind === 'histogram') for (const s of ['_bucket', '_sum', '_count']) served.add(name + s);
      else if (kind === 'summary') for (const s of ['', '_sum', '_count']) served.add(name + s);
      else served.add(name);
      continue;
    }
    const sample = /^([A-Za-z_:][A-Za-z0-9_:]*)[{ ]/.exec(line);
    if (sample) served.add(sample[1]!);
  }
  return served;
}

/** Every query string of a Grafana dashboard: panel targets (rows' nested panels too) and variables. */
export function dashboardQueries(dashboard: GrafanaDashboard): { where: string; expr: string }[] {
  const out: { where: string; expr: string }[] = [];
  const visit = (panels: GrafanaPanel[] | undefined) => {
    for (const p of panels ?? []) {
      for (const t of p.targets ?? []) if (t.expr) out.push({ where: `panel "${p.title}"`, expr: t.expr });
      visit(p.panels);
    }
  };
  visit(dashboard.panels);
  for (const v of dashboard.templating?.list ?? []) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : v.query?.query;
    if (q) out.push({ where: `variable $${v.name}`, expr: q });
  }
  return out;
}

export interface GrafanaTarget {
  refId?: string;
  expr?: string;
  legendFormat?: string;
  datasource?: { type?: string; uid?: string };
}

export interface GrafanaPanel {
  id?: number;
  type: string;
  title: string;
  gridPos?: { h: number; w: number; x: number; y: number };
  targets?: GrafanaTarget[];
  panels?: GrafanaPanel[];
  datasource?: { type?: string; uid?: string };
}

export interface GrafanaDashboard {
  uid: string;
  title: string;
  panels: GrafanaPanel[];
  templating?: { list: { name: string; type: string; query?: string | { query?: string } }[] };
}

export interface AlertRule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface PrometheusRuleObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec: { groups: { name: string; interval?: string; rules: AlertRule[] }[] };
}

/** Brackets and quotes of a PromQL expression that do not pair up; empty when they all do. */
export function unbalanced(expr: string): string[] {
  const stack: string[] = [];
  const pairs: Record<string, string> = { ')': '(', ']': '[', '}': '{' };
  const problems: string[] = [];
  const s = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""');
  if (/["'`]/.test(s.replaceAll('""', ''))) problems.push('an unterminated string');
  for (const c of s) {
    if (c === '(' || c === '[' || c === '{') stack.push(c);
    else if (c in pairs && stack.pop() !== pairs[c]) problems.push(`an unmatched "${c}"`);
  }
  if (stack.length) problems.push(`unclosed ${stack.map((c) => `"${c}"`).join(', ')}`);
  return problems;
}

/** What is wrong with a PrometheusRule (beyond its CRD schema): empty when every rule is usable. */
export function ruleProblems(rule: PrometheusRuleObject): string[] {
  const problems: string[] = [];
  if (rule.apiVersion !== 'monitoring.coreos.com/v1') problems.push(`apiVersion ${rule.apiVersion}`);
  const groups = rule.spec?.groups ?? [];
  if (!groups.length) problems.push('no rule groups');
  const groupNames = new Set<string>();
  const alerts = new Set<string>();
  for (const g of groups) {
    if (!g.name) problems.push('a group without a name');
    if (groupNames.has(g.name)) problems.push(`group ${g.name} twice`);
    groupNames.add(g.name);
    if (!g.rules?.length) problems.push(`group ${g.name} has no rules`);
    for (const r of g.rules ?? []) {
      const id = r.alert ?? r.record ?? '(unnamed)';
      if (!r.alert === !r.record) problems.push(`${id}: exactly one of alert and record`);
      if (r.alert && !/^[A-Z][A-Za-z0-9]*$/.test(r.alert)) problems.push(`${id}: alert name not CamelCase`);
      if (r.alert && alerts.has(r.alert)) problems.push(`${id}: alert defined twice`);
      if (r.alert) alerts.add(r.alert);
      if (typeof r.expr !== 'string' || !r.expr.trim()) problems.push(`${id}: no expr`);
      else {
        for (const p of unbalanced(r.expr)) problems.push(`${id}: expr has ${p}`);
        if (metricNames(r.expr).length === 0) problems.push(`${id}: expr selects no metric`);
      }
      if (r.for !== undefined && !/^(\d+(ms|s|m|h|d|w|y))+$/.test(r.for))
        problems.push(`${id}: for "${r.for}"`);
      if (r.alert) {
        const severity = r.labels?.severity;
        if (!severity || !['critical', 'warning', 'info'].includes(severity))
          problems.push(`${id}: severity "${severity}"`);
        for (const a of ['summary', 'description'])
          if (!r.annotations?.[a]?.trim()) problems.push(`${id}: no ${a} annotation`);
        // Prometheus templates: every {{ closed, and each reads $value or $labels (Helm left none unrendered).
        for (const [k, v] of Object.entries({ ...r.labels, ...r.annotations })) {
          const actions = [...v.matchAll(/\{\{(.*?)\}\}/g)].map((m) => m[1]!);
          const opened = v.split('{{').length - 1;
          const closed = v.split('}}').length - 1;
          if (
            opened !== closed ||
            opened !== actions.length ||
            actions.some((a) => !/\$(value|labels\.\w+)/.test(a))
          )
            problems.push(`${id}: ${k} has a broken {{ }} template: ${v}`);
        }
      }
    }
  }
  return problems;
}
