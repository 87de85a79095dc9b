import { createHash } from 'node:crypto';

/**
 * The emulator's deployment id for a seeded workflow: a UUID-shaped id derived from the deployment
 * name, so a registry file written once keeps pointing at the same deployment on every emulator start.
 */
export function emulatorDeploymentId(name: string): string {
  const hex = createHash('sha256').update(`runcomfy-emulator:${name}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
