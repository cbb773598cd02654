import { defineConfig } from 'tsup';
import { bundleOptions } from '../../tsup.app';

// One file, dist/main.js, that runs with plain `node` — what the container image holds.
export default defineConfig(bundleOptions({ main: 'src/main.ts' }));
