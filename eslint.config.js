// One lint config for every project; `nx run <project>:lint` runs it over that project's files.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** An app's src internals, test support or sandbox: e2e/, bench/ and charts/ reach none of them. */
const APP_INTERNALS = {
  regex: '(^|/)apps/[^/]+/(src|test|sandbox)(/|$)',
  message: 'import shared test support from @keiko/testenv and product code from a package',
};

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '.nx/**', '.testenv/**', '.sandbox/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'off',
    },
  },
  {
    // e2e/, bench/ and charts/ reach the product through its packages only: never an app's src internals,
    // its tests' support or its sandbox (shared test support lives in packages/testenv). bench imports
    // nothing from e2e/.
    files: ['e2e/**/*.ts', 'bench/**/*.ts', 'charts/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [APP_INTERNALS],
        },
      ],
    },
  },
  {
    files: ['bench/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            APP_INTERNALS,
            {
              regex: '(^|/)e2e(/|$)',
              message: 'bench imports nothing from e2e/: shared support lives in @keiko/testenv',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
);
