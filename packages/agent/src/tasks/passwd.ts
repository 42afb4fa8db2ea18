export interface SystemUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/** The accounts in an /etc/passwd text: `name:x:uid:gid:gecos:home:shell` per line. */
export function parsePasswd(text: string): Map<string, SystemUser> {
  const users = new Map<string, SystemUser>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 7) continue;
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    if (!Number.isInteger(uid) || !Number.isInteger(gid)) continue;
    const name = f[0] as string;
    if (!users.has(name)) users.set(name, { name, uid, gid, home: f[5] as string });
  }
  return users;
}
