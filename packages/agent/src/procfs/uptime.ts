import { fields } from './fs.ts';
/** /proc/uptime: seconds since boot and idle seconds summed over CPUs. */
export function parseUptime(text: string): { uptimeSeconds: number; idleSeconds: number } {
  const [up, idle] = fields(text).map(Number);
  if (up === undefined || !Number.isFinite(up)) throw new Error(`unexpected /proc/uptime content: ${JSON.stringify(text.slice(0, 40))}`);
  return { uptimeSeconds: up, idleSeconds: idle ?? 0 };
}
