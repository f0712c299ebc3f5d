import type { z } from 'zod';
import { ApiError } from './http/errors.ts';

/** Parses with a zod schema; failures are a 400 naming each bad field. */
export function parseBody<T extends z.ZodType>(schema: T, data: unknown): z.infer<T> {
  const r = schema.safeParse(data);
  if (r.success) return r.data;
  const issues = r.error.issues.slice(0, 10).map((i) => {
    const path = i.path.length ? i.path.join('.') : '(body)';
    return `${path}: ${i.message}`;
  });
  throw new ApiError('bad_request', issues.join('; '), { issues: r.error.issues.slice(0, 10) });
}
