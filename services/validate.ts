import type { z } from 'zod';
import { COLLECTION_NAME, isCollectionName } from '../catalog/index.ts';
import { ApiError } from './http/errors.ts';

/** 400 unless `name` is a valid collection name (one rule: catalog's `isCollectionName`). */
export function assertCollectionName(name: unknown): string {
  if (!isCollectionName(name)) {
    throw new ApiError(
      'bad_request',
      `collection name must match ${COLLECTION_NAME.source}, got ${JSON.stringify(name)}`,
    );
  }
  return name;
}

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
