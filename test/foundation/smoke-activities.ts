import { hostname } from 'node:os';

export function createSmokeActivities() {
  return {
    async describeHost(): Promise<string> {
      return `activity on ${hostname()} pid ${process.pid}`;
    },
  };
}
