// One informer sync in a fresh process, so its RSS is the informer's (plus Node's baseline).
import { Informer, KubeClient, ResourceTypes } from '@keiko/kube-runtime';
import { KubeConfig } from '@kubernetes/client-node';

const [namespace, expected] = process.argv.slice(2);
const started = performance.now();
const kc = new KubeConfig();
kc.loadFromDefault(); // $KUBECONFIG: the test cluster
const informer = new Informer(new KubeClient(kc), ResourceTypes.ConfigMap, { namespace });
informer.start();
await informer.waitForSync();
const syncS = (performance.now() - started) / 1000;
if (informer.keys().filter((k) => k.includes('/cm-')).length !== Number(expected)) {
  throw new Error(`synced ${informer.keys().length} objects, expected ${expected}`);
}
const rssMb = process.memoryUsage().rss / 1024 / 1024;
await informer.stop();
console.log(JSON.stringify({ syncS, rssMb }));
