// Where the stand-ins' serving pair comes from: the test cluster's apiserver pair, which every
// kubeconfig of the test cluster already trusts (its CA file), so a client verifies the stand-in's TLS.
import path from 'node:path';
import { testEnvStatus } from './testenv';

export async function testEnvPki(): Promise<{ certFile: string; keyFile: string; caFile: string }> {
  const info = await testEnvStatus();
  if (!info?.pkiDir)
    throw new Error('the kubelet stand-in needs the running test cluster (its apiserver pair)');
  const certFile = path.join(info.pkiDir, 'apiserver.crt');
  return { certFile, keyFile: path.join(info.pkiDir, 'apiserver.key'), caFile: certFile };
}
