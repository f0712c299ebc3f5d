import { DeliverPolicy } from 'nats';
import type { ConsumerMessages, JetStreamClient, JetStreamManager } from 'nats';
import type { Manifest } from '../../catalog/index.ts';
import { Streams, Subjects } from '../subjects.ts';
import type { CollectionDef } from '../types.ts';

export interface CatalogFollowerOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** The local stream to follow. Default the hub's CATALOG (see StreamLayout). */
  stream?: string;
  onDefinition: (def: CollectionDef) => Promise<void> | void;
  onManifest: (manifest: Manifest) => Promise<void> | void;
  onError: (err: unknown) => void;
}

/**
 * Follows the CATALOG stream with an ordered consumer that starts from the last message
 * of every subject: a (re)starting replica sees each collection's current definition and
 * each generation's newest manifest first — a bootstrap goes straight to the latest
 * version — then every new one as it is published. Messages are handled one at a time,
 * in stream order. Nothing is acked: the replica's own catalog is its position.
 */
export class CatalogFollower {
  private readonly o: CatalogFollowerOptions;
  private messages: ConsumerMessages | null = null;
  private loop: Promise<void> | null = null;
  private caughtUp!: Promise<void>;
  private markCaughtUp: () => void = () => undefined;
  private stopped = false;

  constructor(opts: CatalogFollowerOptions) {
    this.o = opts;
    this.caughtUp = new Promise((r) => (this.markCaughtUp = r));
  }

  /** Resolves once every message that existed at start has been handled. */
  get initialSync(): Promise<void> {
    return this.caughtUp;
  }

  async start(): Promise<void> {
    const stream = this.o.stream ?? Streams.catalog;
    const info = await this.o.jsm.streams.info(stream);
    if (info.state.messages === 0) this.markCaughtUp();
    const consumer = await this.o.js.consumers.get(stream, {
      filterSubjects: Subjects.catalogAll,
      deliver_policy: DeliverPolicy.LastPerSubject,
    });
    this.messages = await consumer.consume({ max_messages: 64 });
    if (this.stopped) {
      await this.messages.close().catch(() => undefined);
      return;
    }
    this.loop = this.run(this.messages);
  }

  /** Stops following; `initialSync` resolves (its waiters check whether they were stopped). */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.messages?.close().catch(() => undefined);
    await this.loop?.catch(() => undefined);
    this.markCaughtUp();
  }

  private async run(messages: ConsumerMessages): Promise<void> {
    for await (const m of messages) {
      try {
        const body = JSON.parse(Buffer.from(m.data).toString('utf8')) as unknown;
        if (m.subject.endsWith('.def')) await this.o.onDefinition(body as CollectionDef);
        else await this.o.onManifest(body as Manifest);
      } catch (err) {
        this.o.onError(err);
      }
      if (m.info.pending === 0) this.markCaughtUp();
    }
  }
}
