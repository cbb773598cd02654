import { jestProject } from '../jest.preset.js';

// One jest process per e2e run: tool suites run one file at a time, since each drives controllers
// that act cluster-wide on the shared test cluster.
export default {
  ...jestProject(import.meta.dirname, { cluster: true }),
  testMatch: ['<rootDir>/**/*.e2e.test.ts'],
  maxWorkers: 1,
  testTimeout: 300_000,
};
