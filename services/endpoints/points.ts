import type { Context, Hono } from 'hono';
import { decodePointColumns } from '../../index/index.ts';
import type { PointInput } from '../../index/index.ts';
import type { Primary, AppendOptions, WriteResult } from '../../sync/index.ts';
import { AckModeSchema, DeleteBody, UpsertBody } from '../api.ts';
import type { WriteResponse } from '../api.ts';
import { readJson } from '../http/app.ts';
import { requireRole } from '../http/auth.ts';
import type { KeyRing } from '../http/auth.ts';
import { ApiError } from '../http/errors.ts';
import type { TokenCodec } from '../tokens.ts';
import { parseBody } from '../validate.ts';
import { resolveServed } from '../query/serve-local.ts';

export const ARROW_STREAM = 'application/vnd.apache.arrow.stream';

/**
 * Writes on the primary: `POST /v1/collections/:name/points` (JSON or an Arrow IPC
 * stream) and `.../points/delete`. Answers 200 when the ack mode was met, 202 when its
 * timeout expired first (durable on the primary, replication pending), with a session
 * token that lets the writer read its own write anywhere.
 */
export function pointRoutes(
  app: Hono,
  o: { primary: Primary; keys: KeyRing; tokens: TokenCodec },
): void {
  app.post('/v1/collections/:name/points', requireRole(o.keys, 'write'), async (c) => {
    const name = c.req.param('name');
    const type = c.req.header('content-type') ?? '';
    if (type.toLowerCase().startsWith(ARROW_STREAM)) {
      const bytes = new Uint8Array(await c.req.arrayBuffer());
      // The generation and the backfill source come from the query string or, when it
      // does not say, from the stream's schema metadata (`model`, `sourceSeq`).
      let schema: ReadonlyMap<string, string> = new Map();
      let dim = 0;
      const cols = decodePointColumns(bytes, (meta) => {
        schema = meta;
        const model = c.req.query('model') ?? meta.get('model');
        dim = resolveServed({ replica: o.primary.replica }, name, model).generation.dim;
        return dim;
      });
      if (cols.ids.length === 0)
        throw new ApiError('bad_request', 'the Arrow stream holds no rows');
      const points: PointInput[] = cols.ids.map((id, i) => ({
        id,
        vector: cols.vectors.subarray(i * dim, (i + 1) * dim),
        metadata: cols.metadata[i] ?? null,
      }));
      const opts = writeOptionsFromQuery(c, schema);
      return answer(c, o.tokens, await o.primary.upsert(name, points, opts));
    }
    const body = parseBody(UpsertBody, await readJson(c.req));
    resolveServed({ replica: o.primary.replica }, name, body.model); // 404, or 409 model_mismatch (as Arrow)
    return answer(c, o.tokens, await o.primary.upsert(name, body.points, writeOptions(body)));
  });

  app.post('/v1/collections/:name/points/delete', requireRole(o.keys, 'write'), async (c) => {
    const body = parseBody(DeleteBody, await readJson(c.req));
    resolveServed({ replica: o.primary.replica }, c.req.param('name'), body.model); // 404, or 409 model_mismatch
    return answer(
      c,
      o.tokens,
      await o.primary.delete(c.req.param('name'), body.ids, writeOptions(body)),
    );
  });
}

function writeOptions(b: {
  ack?: AppendOptions['ack'];
  timeoutMs?: number;
  model?: string;
  requestId?: string;
  sourceSeq?: number;
}): AppendOptions {
  return {
    ...(b.sourceSeq !== undefined ? { sourceSeq: b.sourceSeq } : {}),
    ...(b.ack ? { ack: b.ack } : {}),
    ...(b.timeoutMs !== undefined ? { timeoutMs: b.timeoutMs } : {}),
    ...(b.model ? { model: b.model } : {}),
    ...(b.requestId ? { msgId: b.requestId } : {}),
  };
}

function writeOptionsFromQuery(c: Context, schema: ReadonlyMap<string, string>): AppendOptions {
  const ack = c.req.query('ack');
  const timeout = c.req.query('timeoutMs');
  const sourceSeq = c.req.query('sourceSeq') ?? schema.get('sourceSeq');
  const model = c.req.query('model') ?? schema.get('model');
  if (sourceSeq !== undefined && !/^\d{1,15}$/.test(sourceSeq))
    throw new ApiError('bad_request', 'sourceSeq must be a WAL seq (a whole number)');
  const parsedAck = ack === undefined ? undefined : AckModeSchema.safeParse(ack);
  if (parsedAck && !parsedAck.success)
    throw new ApiError('bad_request', `ack must be async, semi-sync or sync`);
  if (timeout !== undefined && !/^\d{1,6}$/.test(timeout))
    throw new ApiError('bad_request', 'timeoutMs must be a whole number of ms');
  return writeOptions({
    ...(parsedAck?.success ? { ack: parsedAck.data } : {}),
    ...(timeout !== undefined ? { timeoutMs: Number(timeout) } : {}),
    ...(model ? { model } : {}),
    ...(c.req.query('requestId') ? { requestId: c.req.query('requestId')! } : {}),
    ...(sourceSeq !== undefined ? { sourceSeq: Number(sourceSeq) } : {}),
  });
}

function answer(c: Context, tokens: TokenCodec, r: WriteResult) {
  const body: WriteResponse = {
    collection: r.collection,
    generation: r.generation,
    seq: r.seq,
    token: tokens.encode(r.seq),
    duplicate: r.duplicate,
    ...(r.skipped ? { skipped: { count: r.skipped.length, ids: r.skipped.slice(0, 100) } } : {}),
    ack: {
      mode: r.mode,
      replicated: r.replicated,
      timedOut: r.timedOut,
      appliedRegions: r.appliedRegions,
      pendingRegions: r.pendingRegions,
    },
  };
  return c.json(body, r.timedOut ? 202 : 200);
}
