import { defineConfig } from 'tsup';
import { libraryOptions } from '../../tsup.app';

export default defineConfig(libraryOptions(['src/index.ts', 'src/cli.ts']));
