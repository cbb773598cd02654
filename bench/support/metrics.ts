// A scrape of a controller's /metrics: the AWS call count the benchmarks report.
/** Sum of keiko_aws_api_calls_total over every label set. */
export async function awsCalls(metricsPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    const m = /^keiko_aws_api_calls_total\{[^}]*\} (\d+(?:\.\d+)?)$/.exec(line);
    if (m) total += Number(m[1]);
  }
  return total;
}
