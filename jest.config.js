/** Two projects: unit tests need nothing; integration and e2e tests need the services
 *  started by scripts/services (scripts/test brings them up and exports .services/env). */
const tsJest = ['ts-jest', { diagnostics: false }];
module.exports = {
  testTimeout: 120000,
  projects: [
    { displayName: 'unit', roots: ['<rootDir>/test', '<rootDir>/src'], testEnvironment: 'node', transform: { '^.+\\.ts$': tsJest }, testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    {
      displayName: 'integration',
      roots: ['<rootDir>/test', '<rootDir>/src'],
      testEnvironment: 'node',
      transform: { '^.+\\.ts$': tsJest },
      testMatch: ['<rootDir>/test/integration/**/*.test.ts', '<rootDir>/test/e2e/**/*.test.ts', '<rootDir>/test/chaos/**/*.test.ts'],
      setupFiles: ['<rootDir>/test/support/load-services-env.ts'],
    },
  ],
};
