// The Grafana dashboard and the PrometheusRule every tool chart can ship (keiko-lib's _monitoring.tpl plus
// the tool's own panels and alerts): off by default; with their flags on, the dashboard is a ConfigMap the
// Grafana sidecar loads and its JSON parses, the PrometheusRule is well-formed and has the promised
// alerts — and every metric either of them queries is served by the real controller: each tool's bundle
// (apps/<tool>/dist/main.js, as in its image) runs against the test cluster and its /metrics is scraped.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createNamespace, deleteNamespace, eventually, freePort, repoRoot } from '@keiko/testenv';
import type * as k8s from '@kubernetes/client-node';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  cleanupWorkspace,
  preparedChart,
  renderChart,
  toolCharts,
  type RenderOptions,
} from './support/charts';
import {
  dashboardQueries,
  metricNames,
  ruleProblems,
  servedNames,
  type GrafanaDashboard,
  type GrafanaPanel,
  type PrometheusRuleObject,
} from './support/metrics';

afterAll(cleanupWorkspace);

const charts = toolCharts().map((c) => c.name);
/** helm --set (not --set-string: the schema wants booleans) turning both on. */
const ON = ['--set', 'metrics.dashboard.enabled=true,metrics.prometheusRule.enabled=true'];

/** The alerts each chart promises besides keiko-lib's shared ones (without the Keiko<Tool> prefix). */
const TOOL_ALERTS: Record<string, string[]> = {
  'upgrade-manager': ['RolloutStuck', 'RollingUpgradeFailed', 'DrainFailures'],
  'instance-manager': ['InstanceGroupsInError', 'DrainFailures', 'CloudOperationErrors'],
  'addon-manager': ['AddonsFailed', 'WorkflowFailures'],
  'kube-forensics': ['CaptureFailed', 'CheckpointUnavailable'],
  'lifecycle-manager': ['TerminationsFailing', 'DrainFailures', 'MessagesRejected'],
};

/** A tool's own metric prefix: keiko_<tool>_, unless it keeps its upstream's names (dashboards written for upstream keep working). */
const TOOL_METRIC_PREFIX: Record<string, string> = {
  governor: 'governor_',
  'kube-forensics': 'kube_forensics_',
  'lifecycle-manager': 'lifecycle_manager_',
  'minion-manager': 'minion_manager_',
};
const toolPrefix = (chart: string) => TOOL_METRIC_PREFIX[chart] ?? `keiko_${chart.replaceAll('-', '_')}_`;

const alertPrefix = (chart: string) =>
  'Keiko' +
  chart
    .split('-')
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join('');

/** An AWS tool is one whose chart has `aws` values; it serves keiko_aws_* and gets the AWS alert. */
function callsAws(chart: string): boolean {
  return /^aws:/m.test(fs.readFileSync(path.join(repoRoot(), 'charts', chart, 'values.yaml'), 'utf8'));
}

function hasLabel(o: k8s.KubernetesObject, key: string, value: string): boolean {
  return o.metadata?.labels?.[key] === value;
}

interface Monitoring {
  objects: k8s.KubernetesObject[];
  configMaps: k8s.V1ConfigMap[];
  dashboards: GrafanaDashboard[];
  rules: PrometheusRuleObject[];
}

async function renderMonitoring(chart: string, opts: RenderOptions = {}): Promise<Monitoring> {
  const objects = await renderChart(await preparedChart(chart), opts);
  const configMaps = objects.filter(
    (o): o is k8s.V1ConfigMap => o.kind === 'ConfigMap' && hasLabel(o, 'grafana_dashboard', '1'),
  );
  const dashboards = configMaps.flatMap((cm) =>
    Object.values(cm.data ?? {}).map((json) => JSON.parse(json) as GrafanaDashboard),
  );
  const rules = objects.filter((o) => o.kind === 'PrometheusRule') as unknown as PrometheusRuleObject[];
  return { objects, configMaps, dashboards, rules };
}

/** Every query of the rendered dashboards and alerts, with the metrics it selects. */
function queriedMetrics(m: Monitoring): { where: string; metric: string }[] {
  const queries = [
    ...m.dashboards.flatMap((d) => dashboardQueries(d)),
    ...m.rules.flatMap((r) =>
      r.spec.groups.flatMap((g) =>
        g.rules.map((rule) => ({ where: `alert ${rule.alert}`, expr: rule.expr })),
      ),
    ),
  ];
  return queries.flatMap(({ where, expr }) => metricNames(expr).map((metric) => ({ where, metric })));
}

/** The queries that select a metric `served` lacks, as "<where>: <metric>". */
function unserved(m: Monitoring, served: Set<string>): string[] {
  return queriedMetrics(m)
    .filter((q) => !served.has(q.metric))
    .map((q) => `${q.where}: ${q.metric}`);
}

function execIn(cwd: string, bin: string, args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(bin, args, { cwd, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number(err.code ?? 1) : 0, output: `${stdout}${stderr}` }),
    );
  });
}

/** A tool's controller, bundled and started as its container starts it, scoped to one namespace. */
class RunningController {
  private proc?: ChildProcess;
  private log = '';
  readonly lease = 'monitoring-test-leader';

  constructor(
    readonly app: string,
    readonly namespace: string,
  ) {}

  async start(): Promise<void> {
    const bundle = path.join(repoRoot(), 'apps', this.app, 'dist', 'main.js');
    const built = await execIn(repoRoot(), 'npm', ['run', 'build', '--silent', '-w', `apps/${this.app}`]);
    if (built.code !== 0) throw new Error(`building ${this.app} failed:\n${built.output}`);
    this.metricsPort = await freePort();
    this.proc = spawn(
      process.execPath,
      [
        bundle,
        `--namespace=${this.namespace}`,
        '--leader-elect=true',
        `--leader-election-id=${this.lease}`,
        `--leader-election-namespace=${this.namespace}`,
        `--metrics-port=${this.metricsPort}`,
        `--health-port=${await freePort()}`,
        '--bind-address=127.0.0.1',
      ],
      { env: { ...process.env, POD_NAMESPACE: this.namespace }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const collect = (d: Buffer) => (this.log += d.toString());
    this.proc.stdout?.on('data', collect);
    this.proc.stderr?.on('data', collect);
  }

  metricsPort = 0;

  /** /metrics once the controller leads (its controllers then run and every metric is registered). */
  async metricsWhenLeading(): Promise<string> {
    const leading = new RegExp(`^leader_election_master_status\\{name="${this.lease}"\\} 1$`, 'm');
    return eventually(
      `${this.app} to lead and serve /metrics`,
      async () => {
        if (this.proc?.exitCode !== null) throw new Error(`${this.app} exited: ${this.log.slice(-2000)}`);
        const res = await fetch(`http://127.0.0.1:${this.metricsPort}/metrics`);
        const text = await res.text();
        return res.ok && leading.test(text) ? text : undefined;
      },
      90_000,
      500,
      async () => `${this.app} log:\n${this.log.slice(-3000)}`,
    );
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  }
}

describe('off by default', () => {
  it.each(charts.map((c) => [c] as const))(
    '%s renders neither dashboard nor PrometheusRule',
    async (chart) => {
      const m = await renderMonitoring(chart);
      expect(m.configMaps).toEqual([]);
      expect(m.rules).toEqual([]);
    },
  );
});

describe.each(charts.map((c) => [c] as const))('%s monitoring', (chart) => {
  let namespace = '';
  let controller: RunningController | undefined;
  let served: Set<string>;
  let on: Monitoring;

  beforeAll(async () => {
    on = await renderMonitoring(chart, { release: 'keiko', namespace: 'keiko-system', args: ON });
    namespace = await createNamespace('charts-metrics');
    controller = new RunningController(chart, namespace);
    await controller.start();
    served = servedNames(await controller.metricsWhenLeading());
  }, 300_000);

  afterAll(async () => {
    await controller?.stop();
    if (namespace) await deleteNamespace(namespace);
  });

  it('ships the dashboard as a ConfigMap the Grafana sidecar loads, with JSON that parses', () => {
    expect(on.configMaps).toHaveLength(1);
    const cm = on.configMaps[0]!;
    expect(cm.metadata?.labels).toEqual(
      expect.objectContaining({ grafana_dashboard: '1', 'app.kubernetes.io/instance': 'keiko' }),
    );
    expect(Object.keys(cm.data ?? {})).toEqual([expect.stringMatching(/\.json$/)]);
    const [dashboard] = on.dashboards;
    expect(dashboard!.uid.length).toBeLessThanOrEqual(40);
    expect(dashboard!.title).toContain(chart);
    expect(dashboard!.templating?.list.map((v) => v.name)).toEqual(['datasource', 'namespace', 'job']);

    const panels: GrafanaPanel[] = dashboard!.panels;
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
    const graphs = panels.filter((p) => p.type !== 'row');
    expect(graphs.length).toBeGreaterThan(10);
    for (const p of graphs) {
      expect([p.title, p.targets?.length ?? 0]).not.toEqual([p.title, 0]);
      for (const t of p.targets ?? [])
        expect([p.title, t.datasource?.uid]).toEqual([p.title, '${datasource}']);
    }
    // Laid out on Grafana's 24-column grid without overlaps.
    const cells = new Set<string>();
    for (const p of panels) {
      const g = p.gridPos!;
      expect([p.title, g.x + g.w <= 24]).toEqual([p.title, true]);
      for (let x = g.x; x < g.x + g.w; x++)
        for (let y = g.y; y < g.y + g.h; y++) {
          expect([p.title, cells.has(`${x},${y}`)]).toEqual([p.title, false]);
          cells.add(`${x},${y}`);
        }
    }
    // The tool's own panels come first, then the shared ones.
    const tool = toolPrefix(chart);
    const firstGraph = graphs[0]!.targets!.map((t) => t.expr).join(' ');
    expect(firstGraph).toContain(tool);
  });

  it('ships a well-formed PrometheusRule with the shared alerts and its own', () => {
    expect(on.rules).toHaveLength(1);
    const rule = on.rules[0]!;
    expect(ruleProblems(rule)).toEqual([]);
    const names = rule.spec.groups.flatMap((g) => g.rules.map((r) => r.alert));
    const shared = ['ReconcileErrors', 'WorkQueueDepthHigh', 'ReconcileStuck', 'LeaderAbsent'];
    if (callsAws(chart)) shared.push('AwsThrottling');
    expect(names).toEqual(
      expect.arrayContaining([...shared, ...(TOOL_ALERTS[chart] ?? [])].map((a) => alertPrefix(chart) + a)),
    );
    if (!callsAws(chart)) expect(names).not.toContain(`${alertPrefix(chart)}AwsThrottling`);
    // Each alert selects this release's series (the ServiceMonitor's job and namespace) and says who leads.
    for (const r of rule.spec.groups.flatMap((g) => g.rules))
      expect([r.alert, r.expr]).toEqual([
        r.alert,
        expect.stringContaining('job="keiko-' + chart + '-metrics",namespace="keiko-system"'),
      ]);
    const leader = rule.spec.groups.flatMap((g) => g.rules).find((r) => r.alert?.endsWith('LeaderAbsent'));
    expect(leader?.expr).toContain(`name="keiko-${chart}-leader"`);
  });

  it('queries only metrics the controller serves on /metrics', () => {
    const queried = queriedMetrics(on);
    // The scrape and the extraction found what they must, so an empty difference below means something.
    for (const family of [
      'controller_runtime_reconcile_total',
      'workqueue_depth',
      'leader_election_master_status',
      'rest_client_requests_total',
    ]) {
      expect([family, served.has(family)]).toEqual([family, true]);
      expect(queried.map((q) => q.metric)).toContain(family);
    }
    const tool = toolPrefix(chart);
    expect(queried.some((q) => q.metric.startsWith(tool))).toBe(true);
    if (callsAws(chart)) expect(queried.map((q) => q.metric)).toContain('keiko_aws_throttles_total');
    expect(unserved(on, served)).toEqual([]);
  });

  it('catches a query of a metric nobody serves', () => {
    const typo = structuredClone(on);
    const panel = typo.dashboards[0]!.panels.find((p) => p.type !== 'row')!;
    panel.targets![0]!.expr = panel.targets![0]!.expr!.replace(/(\w+)\{/, '$1s{');
    const rule = typo.rules[0]!.spec.groups[0]!.rules[0]!;
    rule.expr = rule.expr.replace(
      'controller_runtime_reconcile_errors_total',
      'controller_runtime_reconcile_error_total',
    );
    expect(unserved(typo, served)).toEqual([
      expect.stringMatching(new RegExp(`^panel "${panel.title.replace(/[()]/g, '\\$&')}": \\w+s$`)),
      `alert ${rule.alert}: controller_runtime_reconcile_error_total`,
    ]);
  });

  it('adds alertLabels to every alert, takes a selector, and drops LeaderAbsent without leader election', async () => {
    const m = await renderMonitoring(chart, {
      set: {
        'metrics.prometheusRule.alertLabels.team': 'platform',
        'metrics.prometheusRule.selector': 'service="um"',
        'metrics.prometheusRule.labels.release': 'kube-prometheus-stack',
        'metrics.dashboard.namespace': 'monitoring',
      },
      args: [...ON, '--set', 'leaderElection.enabled=false,replicas=1'],
    });
    const rule = m.rules[0]!;
    expect(rule.metadata.labels?.release).toBe('kube-prometheus-stack');
    expect(ruleProblems(rule)).toEqual([]);
    const rules = rule.spec.groups.flatMap((g) => g.rules);
    for (const r of rules) {
      expect([r.alert, r.labels?.team]).toEqual([r.alert, 'platform']);
      expect([r.alert, r.expr]).toEqual([r.alert, expect.stringContaining('{service="um"')]);
    }
    expect(rules.map((r) => r.alert)).not.toContain(`${alertPrefix(chart)}LeaderAbsent`);
    expect(m.configMaps[0]!.metadata?.namespace).toBe('monitoring');
  });
});

it('the extraction reads PromQL and Grafana queries as expected', () => {
  expect(
    metricNames(
      'histogram_quantile(0.99, sum by (le, controller) (rate(controller_runtime_reconcile_time_seconds_bucket{namespace="$namespace",job=~"a|b"}[$__rate_interval])))',
    ),
  ).toEqual(['controller_runtime_reconcile_time_seconds_bucket']);
  expect(
    metricNames('max(x{a="b"}) < 1 or absent(y{name="by (z)"}) unless on (pod) group_left z_total offset 5m'),
  ).toEqual(['x', 'y', 'z_total']);
  expect(
    metricNames('label_values(controller_runtime_max_concurrent_reconciles{namespace="$namespace"}, job)'),
  ).toEqual(['controller_runtime_max_concurrent_reconciles']);
  expect(metricNames('sum(rate(a_total[5m])) * 60 > 1e3')).toEqual(['a_total']);
  expect(
    servedNames('# HELP h x\n# TYPE h histogram\n# TYPE c_total counter\nc_total{a="b"} 1\nother 2\n'),
  ).toEqual(new Set(['h_bucket', 'h_sum', 'h_count', 'c_total', 'other']));
});
