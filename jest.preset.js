// Shared jest settings. Every project's jest.config.js calls jestProject(); the root jest.config.js
// runs them all in one jest process, so one test cluster serves the whole run.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(fileURLToPath(import.meta.url));

/**
 * @param {string} dir the project's directory (import.meta.dirname of its jest.config.js)
 * @param {{ cluster?: boolean }} opts cluster: the project has tests that need the test cluster
 */
export function jestProject(dir, opts = {}) {
  const name = path.relative(root, dir);
  return {
    displayName: name,
    rootDir: dir,
    testEnvironment: 'node',
    // Here, not only in the root config: `nx test <project>` runs this file alone. Tests wait on
    // conditions against a real cluster on a small shared machine; jest's 5 s default is not enough.
    testTimeout: 120_000,
    testMatch: ['<rootDir>/test/**/*.test.ts', '<rootDir>/src/**/*.test.ts'],
    extensionsToTreatAsEsm: ['.ts'],
    transform: {
      '^.+\\.ts$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2023' } }],
    },
    moduleNameMapper: {
      '^@keiko/([a-z0-9-]+)$': `${root}/packages/$1/src/index.ts`,
    },
    ...(opts.cluster
      ? {
          globalSetup: `${root}/packages/testenv/jest/global-setup.ts`,
          globalTeardown: `${root}/packages/testenv/jest/global-teardown.ts`,
        }
      : {}),
  };
}
