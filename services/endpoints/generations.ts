import type { Context, Hono } from 'hono';
import type { ActivateOptions, ActivationPolicy, Primary } from '../../sync/index.ts';
import { ActivateGenerationBody, CutoverBody, StageGenerationBody } from '../api.ts';
import { readJson } from '../http/app.ts';
import { requireRole } from '../http/auth.ts';
import type { KeyRing } from '../http/auth.ts';
import { ApiError } from '../http/errors.ts';
import { assertCollectionName, parseBody } from '../validate.ts';

/**
 * Embedding-model generations on the primary (admin; issue 14): stage a new model beside
 * the active one, activate one behind a gate on the regions' applied positions (the same
 * call rolls back to a retired one), drop one that is not active.
 */
export function generationRoutes(app: Hono, o: { primary: Primary; keys: KeyRing }): void {
  app.post('/v1/collections/:name/generations', requireRole(o.keys, 'admin'), async (c) => {
    const name = assertCollectionName(c.req.param('name'));
    const body = parseBody(StageGenerationBody, await readJson(c.req));
    const settings = o.primary.catalog.getCollection(name);
    if (!settings) throw new ApiError('not_found', `no collection named ${name}`);
    if (body.metric && body.metric !== settings.metric) {
      throw new ApiError(
        'bad_request',
        `a generation uses its collection's metric (${settings.metric}); ${body.metric} was asked (a metric per generation is not supported yet)`,
      );
    }
    const g = await o.primary.generations.stage(name, body.model, body.dim);
    return c.json({ collection: name, model: g.model, dim: g.dim, state: g.state }, 201);
  });

  app.post(
    '/v1/collections/:name/generations/:model/activate',
    requireRole(o.keys, 'admin'),
    async (c) => {
      const name = assertCollectionName(c.req.param('name'));
      // No body at all is the defaults (policy all, no wait).
      const empty = (c.req.header('content-length') ?? '') === '0';
      const body = parseBody(ActivateGenerationBody, empty ? {} : await readJson(c.req));
      const model = c.req.param('model');
      const g = o.primary.generations;
      const opts = gateOptions(body);
      if (body.async) {
        g.preflight([{ collection: name, model }]);
        return accepted(
          c,
          g.tasks.start((more) => g.activate(name, model, { ...opts, ...more })),
        );
      }
      return c.json(await g.activate(name, model, opts));
    },
  );

  // A commit group: every region shows all of these flipped or none.
  app.post('/v1/cutovers', requireRole(o.keys, 'admin'), async (c) => {
    const body = parseBody(CutoverBody, await readJson(c.req));
    for (const m of body.activate) assertCollectionName(m.collection);
    const g = o.primary.generations;
    const opts = gateOptions(body);
    if (body.async) {
      g.preflight(body.activate);
      return accepted(
        c,
        g.tasks.start((more) => g.activateGroup(body.activate, { ...opts, ...more })),
      );
    }
    return c.json(await g.activateGroup(body.activate, opts));
  });

  // An activation that answered 202: every region's progress to the fence, then the outcome.
  app.get('/v1/activations/:id', requireRole(o.keys, 'admin'), (c) => {
    const status = o.primary.generations.tasks.status(c.req.param('id'));
    if (!status) {
      throw new ApiError(
        'not_found',
        `no activation ${c.req.param('id')} on this primary (finished ones are kept 15 minutes)`,
      );
    }
    return c.json(status);
  });

  app.delete(
    '/v1/collections/:name/generations/:model',
    requireRole(o.keys, 'admin'),
    async (c) => {
      const name = assertCollectionName(c.req.param('name'));
      const model = c.req.param('model');
      await o.primary.generations.drop(name, model);
      return c.json({ collection: name, dropped: model });
    },
  );
}

function gateOptions(body: {
  policy?: ActivationPolicy;
  timeoutMs?: number;
  minCoverage?: number;
}): ActivateOptions {
  return {
    ...(body.policy ? { policy: body.policy } : {}),
    ...(body.timeoutMs !== undefined ? { timeoutMs: body.timeoutMs } : {}),
    ...(body.minCoverage !== undefined ? { minCoverage: body.minCoverage } : {}),
  };
}

/** 202: the activation runs on; `href` follows it. */
function accepted(c: Context, id: string) {
  return c.json({ activation: id, state: 'waiting', href: `/v1/activations/${id}` }, 202);
}
