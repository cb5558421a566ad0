import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['dist/', 'bench/.build/', 'node_modules/', 'coverage/', '.tap/', 'db/', 'keys/'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-console': 'error',
    },
  },
  {
    files: ['test/**', 'bench/**'],
    rules: { 'no-console': 'off' },
  },
)
