import { headers } from 'nats';
import type { JetStreamClient, JetStreamManager } from 'nats';
import type { Manifest } from '../catalog/index.ts';
import { SyncError, fromNatsError, isWrongLastSequence, jsErrorCode } from './errors.ts';
import { Headers, Streams, Subjects } from './subjects.ts';
import type { CollectionDef } from './types.ts';

const enc = (v: unknown) => Buffer.from(JSON.stringify(v), 'utf8');

/**
 * Publishes a collection's definition. The last message on the subject is current.
 * Idempotent in effect (republishing the same definition changes nothing downstream).
 */
export async function publishCollectionDef(
  js: JetStreamClient,
  def: CollectionDef,
): Promise<number> {
  const h = headers();
  h.set(Headers.collection, def.settings.name);
  try {
    const ack = await js.publish(Subjects.collectionDef(def.settings.name), enc(def), {
      headers: h,
    });
    return ack.seq;
  } catch (err) {
    throw fromNatsError(err, `cannot publish the definition of ${def.settings.name}`);
  }
}

/**
 * Publishes a manifest, fenced: JetStream stores it only if the last message on the
 * generation's manifest subject is still `expectedLastSeq` (0 = none yet). Two primaries
 * can therefore never both publish a version on top of the same predecessor; the loser
 * gets `SyncError('fenced')`. Not idempotent by design: a retry after an unknown outcome
 * must re-read the subject first ({@link lastManifest}).
 */
export async function publishManifest(
  js: JetStreamClient,
  manifest: Manifest,
  expectedLastSeq: number,
): Promise<number> {
  const h = headers();
  h.set(Headers.collection, manifest.collection);
  h.set(Headers.generation, manifest.generation);
  try {
    const ack = await js.publish(
      Subjects.manifest(manifest.collection, manifest.generation),
      enc(manifest),
      {
        headers: h,
        msgID: `manifest:${manifest.collection}:${manifest.generation}:${manifest.version}`,
        expect: { lastSubjectSequence: expectedLastSeq },
      },
    );
    if (ack.duplicate) {
      throw new SyncError(
        'fenced',
        `manifest ${manifest.collection}/${manifest.generation} v${manifest.version} refused: that version was already published, by another primary or an earlier try`,
      );
    }
    return ack.seq;
  } catch (err) {
    if (isWrongLastSequence(err)) {
      throw new SyncError(
        'fenced',
        `manifest ${manifest.collection}/${manifest.generation} v${manifest.version} refused: another primary published on this collection since version ${manifest.version - 1}`,
        { cause: err },
      );
    }
    throw fromNatsError(err, `cannot publish manifest ${manifest.collection} v${manifest.version}`);
  }
}

/** The newest manifest of a collection generation on CATALOG, with its stream seq; null when none. */
export async function lastManifest(
  jsm: JetStreamManager,
  collection: string,
  generation: string,
): Promise<{ manifest: Manifest; seq: number } | null> {
  try {
    const m = await jsm.streams.getMessage(Streams.catalog, {
      last_by_subj: Subjects.manifest(collection, generation),
    });
    return { manifest: JSON.parse(Buffer.from(m.data).toString('utf8')) as Manifest, seq: m.seq };
  } catch (err) {
    if (jsErrorCode(err) === 10037 || /no message found/i.test(String(err))) return null;
    throw fromNatsError(err, `cannot read the last manifest of ${collection}`);
  }
}

/** The current definition of a collection on CATALOG; null when none. */
export async function lastCollectionDef(
  jsm: JetStreamManager,
  collection: string,
): Promise<CollectionDef | null> {
  try {
    const m = await jsm.streams.getMessage(Streams.catalog, {
      last_by_subj: Subjects.collectionDef(collection),
    });
    return JSON.parse(Buffer.from(m.data).toString('utf8')) as CollectionDef;
  } catch (err) {
    if (jsErrorCode(err) === 10037 || /no message found/i.test(String(err))) return null;
    throw fromNatsError(err, `cannot read the definition of ${collection}`);
  }
}
