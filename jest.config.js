// `npm test`: every project's unit and integration tests in one run against one test cluster.
import fs from 'node:fs';
import path from 'node:path';

const root = import.meta.dirname;
// Every project with a jest.config.js: packages/*, apps/*, and charts/ (the Helm chart checks).
const projects = ['packages', 'apps']
  .flatMap((dir) =>
    fs.existsSync(path.join(root, dir))
      ? fs.readdirSync(path.join(root, dir)).map((p) => path.join(root, dir, p))
      : [],
  )
  .concat([path.join(root, 'charts')])
  .filter((p) => fs.existsSync(path.join(p, 'jest.config.js')));

export default {
  projects,
  maxWorkers: 2,
  testTimeout: 120_000,
};
