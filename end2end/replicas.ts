import * as os from 'node:os';
import * as path from 'node:path';

/**
 * Two replicas of the app behind Debian's nginx (the deployment example, through
 * scripts/nginx-front.sh), sharing a throw-away Redis and a database: PostgreSQL when the tests
 * run beside one (`TEST_POSTGRES`, as `make test` runs them), else an SQLite file.
 */
const base = Number(process.env.E2E_PORT ?? 3100);
export const REPLICA_PORTS = [base + 2, base + 3];
export const FRONT_PORT = base + 4;
export const REDIS_PORT = base + 5;
/** Where each replica serves, straight (not through nginx). */
export const REPLICAS = REPLICA_PORTS.map((port) => `http://127.0.0.1:${port}`);
/** The nginx front. */
export const FRONT = `http://127.0.0.1:${FRONT_PORT}`;

// Set once by the runner; its workers inherit them.
process.env.E2E_REPLICAS_DATABASE ??= process.env.TEST_POSTGRES
  ? `${process.env.TEST_POSTGRES}/aic_e2e_replicas_${process.pid}`
  : `sqlite://${path.join(os.tmpdir(), `ai-channels-e2e-replicas-${process.pid}.db`)}`;
process.env.E2E_NGINX_DIR ??= path.join(os.tmpdir(), `ai-channels-e2e-nginx-${process.pid}`);

/** The web servers of the replica scenario, in the order they start. */
export function replicaServers(env: Record<string, string>) {
  const replicas = REPLICA_PORTS.map((port) => ({
    command: 'cargo run --quiet -p server',
    cwd: '..',
    url: `http://127.0.0.1:${port}/healthz`,
    timeout: 180_000,
    reuseExistingServer: false,
    stdout: 'pipe' as const,
    stderr: 'pipe' as const,
    env: {
      ...env,
      AIC_LISTEN: `127.0.0.1:${port}`,
      AIC_DATABASE_URL: process.env.E2E_REPLICAS_DATABASE!,
      AIC_REDIS_URL: `redis://127.0.0.1:${REDIS_PORT}/`,
    },
  }));
  const dir = process.env.E2E_NGINX_DIR!;
  return [
    {
      command: `redis-server --bind 127.0.0.1 --port ${REDIS_PORT} --save '' --appendonly no`,
      port: REDIS_PORT,
      reuseExistingServer: false,
    },
    ...replicas,
    {
      command: `mkdir -p ${dir} && ../scripts/nginx-front.sh ${dir} ${FRONT_PORT} ${REPLICA_PORTS.join(' ')}`,
      url: `${FRONT}/healthz`,
      reuseExistingServer: false,
    },
  ];
}
