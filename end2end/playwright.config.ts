import { defineConfig } from '@playwright/test';
import * as os from 'node:os';
import * as path from 'node:path';
import { replicaServers } from './replicas';

const port = Number(process.env.E2E_PORT ?? 3100);
// A scripted OpenAI-compatible server (fake-upstream.mjs) the app is configured to chat with.
const upstreamPort = Number(process.env.E2E_UPSTREAM_PORT ?? 3101);
// Set once by the runner; its test workers load this file again and inherit the same path, so
// tests can read what the server stored (tests/fixtures.ts `query`).
process.env.E2E_DATABASE ??= path.join(os.tmpdir(), `ai-channels-e2e-${process.pid}.db`);
const database = process.env.E2E_DATABASE;
// Chromium's fake webcam plays this still video of a cat (made by the set-up from a real photo).
const fakeWebcam = path.resolve(__dirname, '../models/samples/chelsea.y4m');

// What every server of the app gets besides its address and database.
const appEnv = {
  AIC_MODELS_DIR: 'models',
  AIC_SITE_ROOT: 'target/site',
  AIC_LOG: 'warn',
  // Revoked sessions lose their websockets within a second, so the tests need not wait.
  AIC_WEBSOCKET__CREDENTIAL_CHECK_SECS: '1',
  AIC_AGENT_EXAMPLES: 'true',
  // Sightings end after 3 s without their label, so a test sees one end without a long wait.
  AIC_SIGHTINGS__ABSENT_SECS: '3',
  AIC_CHAT__PROVIDERS: `[{name="fake", base_url="http://127.0.0.1:${upstreamPort}/v1", models=["fake-model"]}]`,
};

/**
 * End-to-end tests in Debian's Chromium (never a downloaded browser) against the real server,
 * started with a fresh SQLite database and the real model assets; and against two replicas
 * behind nginx (replicas.ts, replicas.spec.ts).
 */
export default defineConfig({
  testDir: './tests',
  timeout: 60_000,
  expect: { timeout: 15_000 },
  fullyParallel: false,
  workers: 1,
  forbidOnly: !!process.env.CI,
  reporter: [['list']],
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--use-fake-ui-for-media-stream',
        '--use-fake-device-for-media-stream',
        `--use-file-for-fake-video-capture=${fakeWebcam}`,
      ],
    },
  },
  webServer: [{
    command: 'node fake-upstream.mjs',
    url: `http://127.0.0.1:${upstreamPort}/v1/models`,
    reuseExistingServer: false,
    env: { E2E_UPSTREAM_PORT: String(upstreamPort) },
  }, {
    command: 'cargo run --quiet -p server',
    cwd: '..',
    url: `http://127.0.0.1:${port}/healthz`,
    timeout: 180_000,
    reuseExistingServer: false,
    stdout: 'pipe',
    stderr: 'pipe',
    env: { ...appEnv, AIC_LISTEN: `127.0.0.1:${port}`, AIC_DATABASE_URL: `sqlite://${database}` },
  }, ...replicaServers(appEnv)],
});
