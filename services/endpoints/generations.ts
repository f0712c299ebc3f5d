import type { Hono } from 'hono';
import type { Primary } from '../../sync/index.ts';
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
      const done = await o.primary.generations.activate(name, c.req.param('model'), {
        ...(body.policy ? { policy: body.policy } : {}),
        ...(body.timeoutMs !== undefined ? { timeoutMs: body.timeoutMs } : {}),
        ...(body.minCoverage !== undefined ? { minCoverage: body.minCoverage } : {}),
      });
      return c.json(done);
    },
  );

  // A commit group: every region shows all of these flipped or none.
  app.post('/v1/cutovers', requireRole(o.keys, 'admin'), async (c) => {
    const body = parseBody(CutoverBody, await readJson(c.req));
    for (const m of body.activate) assertCollectionName(m.collection);
    const done = await o.primary.generations.activateGroup(body.activate, {
      ...(body.policy ? { policy: body.policy } : {}),
      ...(body.timeoutMs !== undefined ? { timeoutMs: body.timeoutMs } : {}),
      ...(body.minCoverage !== undefined ? { minCoverage: body.minCoverage } : {}),
    });
    return c.json(done);
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
