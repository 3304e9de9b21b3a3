/** Tests run TypeScript through ts-jest; worker threads load the compiled container/dist (built by `pretest`). */
// In-process onnxruntime sessions in tests: no telemetry (container/serve and container/train set it too).
process.env.ORT_DISABLE_TELEMETRY = process.env.ORT_DISABLE_TELEMETRY || '1';

module.exports = {
  testEnvironment: '<rootDir>/test/helpers/environment.js',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'test/tsconfig.json' }] },
  testTimeout: 60000,
  verbose: true,
};
