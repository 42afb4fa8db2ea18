import { isAbsolute } from 'node:path';

/** Where the Docker CLI looks when DOCKER_HOST is not set, and so where the agent looks too. */
export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';

export interface DockerSocketChoice {
  /** The Engine API's unix socket; empty leaves Docker out. */
  path: string;
  /** What chose it: the agent's own setting, the Docker CLI's variable, or the default. */
  from: 'containers.docker_socket' | 'DOCKER_HOST' | 'default';
  /** Set when DOCKER_HOST names something the agent cannot use: one line saying so and what it does instead. */
  problem?: string;
}

/** Why a DOCKER_HOST value is no unix socket the agent can open, or undefined when it is one. */
function unusable(host: string): string | undefined {
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(host)?.[1];
  if (scheme === undefined) return 'is not a URL (expected unix:///path/to/docker.sock)';
  if (scheme !== 'unix') {
    return `uses ${scheme}://, and the agent reads only a local engine's unix socket (the containers it names must run on this host)`;
  }
  const path = host.slice('unix://'.length);
  if (path === '') return 'names no socket path';
  // The agent may run from any directory (`start` detaches it), where a relative path means another file.
  if (!isAbsolute(path)) return 'is not an absolute socket path (expected unix:///path/to/docker.sock)';
  return undefined;
}

/**
 * The Docker socket the container collector asks, by precedence: `containers.docker_socket` when
 * set at all (file, env or flag; empty leaves Docker out), then DOCKER_HOST as the Docker CLI reads
 * it, then /var/run/docker.sock. A DOCKER_HOST the agent cannot use falls back to the default
 * socket, as if the variable were unset: the engine there can only name containers whose cgroups
 * are on this host (metadata joins by container id), so the fallback never mislabels one.
 */
export function chooseDockerSocket(setting: string | undefined, env: NodeJS.ProcessEnv): DockerSocketChoice {
  if (setting !== undefined) return { path: setting, from: 'containers.docker_socket' };
  const host = env.DOCKER_HOST;
  // The CLI treats an empty DOCKER_HOST as unset.
  if (host === undefined || host === '') return { path: DEFAULT_DOCKER_SOCKET, from: 'default' };
  const why = unusable(host);
  if (why === undefined) return { path: host.slice('unix://'.length), from: 'DOCKER_HOST' };
  return {
    path: DEFAULT_DOCKER_SOCKET,
    from: 'default',
    problem:
      `DOCKER_HOST=${host} ${why}: using ${DEFAULT_DOCKER_SOCKET} instead; ` +
      'set containers.docker_socket to choose the socket, or to "" to leave Docker out',
  };
}
