import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { ApiError } from './errors.ts';

export const Roles = ['read', 'write', 'admin'] as const;
export type Role = (typeof Roles)[number];

/** admin ⊇ write ⊇ read. */
const rank: Record<Role, number> = { read: 0, write: 1, admin: 2 };

export interface ApiKey {
  key: string;
  role: Role;
  /** A name for logs (keys themselves are never logged). */
  name?: string;
}

/**
 * Bearer API keys with roles. Keys are compared as sha256 digests with
 * `timingSafeEqual`, so the comparison takes the same time whatever the key.
 */
export class KeyRing {
  private readonly entries: Array<{ digest: Buffer; role: Role; name: string }>;

  constructor(keys: readonly ApiKey[]) {
    this.entries = keys.map((k, i) => ({
      digest: sha(k.key),
      role: k.role,
      name: k.name ?? `key${i}`,
    }));
  }

  /** The role of a presented key, or null. Checks every entry (no early exit). */
  roleOf(presented: string): { role: Role; name: string } | null {
    const d = sha(presented);
    let found: { role: Role; name: string } | null = null;
    for (const e of this.entries) {
      if (timingSafeEqual(d, e.digest) && found === null) found = { role: e.role, name: e.name };
    }
    return found;
  }
}

// Deliberately not memoised by the presented string: comparing it with a cached key would
// leak, by timing, how much of a valid key a guess shares. ~3 µs per request.
function sha(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/**
 * Checks an `Authorization` header for a key with at least `role`: throws 401 without a
 * valid key, 403 with too weak a role. Shared by {@link requireRole} and the query fast
 * path (`fast-query.ts`), so both answer with the same codes and messages.
 */
export function authorize(ring: KeyRing, header: string | undefined, role: Role): void {
  const match = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
  if (!match)
    throw new ApiError('unauthorized', 'missing API key: send Authorization: Bearer <key>');
  const who = ring.roleOf(match[1]!);
  if (!who) throw new ApiError('unauthorized', 'unknown API key');
  if (rank[who.role] < rank[role]) {
    throw new ApiError('forbidden', `this key has role ${who.role}; ${role} is required`);
  }
}

/** Requires `Authorization: Bearer KEY` with at least `role`; 401 without a valid key, 403 with too weak a role. */
export function requireRole(ring: KeyRing, role: Role): MiddlewareHandler {
  return async (c, next) => {
    authorize(ring, c.req.header('authorization'), role);
    await next();
  };
}
