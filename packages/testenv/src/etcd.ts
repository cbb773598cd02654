/**
 * Compacts the test cluster's etcd at its current revision, so every older resourceVersion is gone:
 * a watch resumed from one gets 410 Gone (for kinds served without the watch cache).
 */
export async function compactEtcd(
  etcdUrl: string = process.env.KEIKO_TESTENV_ETCD_URL ?? '',
): Promise<number> {
  if (!etcdUrl)
    throw new Error(
      'compactEtcd: no etcd URL (KEIKO_TESTENV_ETCD_URL); an existing cluster cannot be compacted',
    );
  const range = await fetch(`${etcdUrl}/v3/kv/range`, {
    method: 'POST',
    body: JSON.stringify({ key: Buffer.from('/').toString('base64'), limit: 1 }),
  });
  const revision = Number(((await range.json()) as { header: { revision: string } }).header.revision);
  const res = await fetch(`${etcdUrl}/v3/kv/compaction`, {
    method: 'POST',
    body: JSON.stringify({ revision, physical: true }),
  });
  if (!res.ok) throw new Error(`etcd compaction at ${revision} failed: ${res.status} ${await res.text()}`);
  return revision;
}
