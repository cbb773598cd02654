// The smallest complete Keiko controller: it answers every ConfigMap labelled keiko.io/hello=true
// with a greeting in its data, records an Event, and says goodbye through a finalizer on delete.
// Run it against the test cluster:  npx tsx packages/kube-runtime/examples/hello-controller.ts --leader-elect=false
import {
  addFinalizer,
  hasFinalizer,
  isBeingDeleted,
  Manager,
  parseManagerConfig,
  removeFinalizer,
  ResourceTypes,
} from '@keiko/kube-runtime';
import type { V1ConfigMap } from '@kubernetes/client-node';

const FINALIZER = 'keiko.io/hello';
const { config } = parseManagerConfig('hello-controller');
const mgr = new Manager('hello-controller', config);

const controller = mgr.addController<V1ConfigMap>({
  name: 'hello',
  for: ResourceTypes.ConfigMap,
  forOptions: { labelSelector: 'keiko.io/hello=true' },
  reconcile: async ({ namespace, name }, { log }) => {
    const cm = controller.primary.getByName(namespace, name);
    if (!cm) return; // deleted: nothing left to do
    if (isBeingDeleted(cm)) {
      // Confirm one-time steps with a live read: the cache can lag our own last write.
      const live = await mgr.client.get<V1ConfigMap>(ResourceTypes.ConfigMap, namespace, name);
      if (live && hasFinalizer(live, FINALIZER)) {
        await mgr.events.record(live, 'Normal', 'Goodbye', `goodbye, ${live.data?.name ?? 'stranger'}`);
        await removeFinalizer(mgr.client, ResourceTypes.ConfigMap, live, FINALIZER);
      }
      return;
    }
    const withFinalizer = await addFinalizer(mgr.client, ResourceTypes.ConfigMap, cm, FINALIZER);
    const greeting = `Hello, ${cm.data?.name ?? 'stranger'}!`;
    if (cm.data?.greeting === greeting) return; // converged: no write
    await mgr.client.patch(ResourceTypes.ConfigMap, namespace, name, {
      metadata: { resourceVersion: withFinalizer.metadata?.resourceVersion },
      data: { greeting },
    });
    await mgr.events.record(cm, 'Normal', 'Greeted', greeting);
    log.info('greeted', { greeting });
  },
});

await mgr.start();
