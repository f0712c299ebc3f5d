/**
 * The session token a client holds, so that one client reads its own writes.
 *
 * Tokens are opaque, so the holder orders them by completion, with one guard: every write
 * answer replaces the held token (a write's position is new), while a query answer
 * replaces it only if the query carried the held token and nothing replaced it while the
 * query was in flight — the server answers a query with a token at least as far as the
 * one it was given, so a query never moves the session backwards. Two writes in flight at
 * once may complete in either order; the later-completing one is kept, so await both
 * before relying on reading either.
 */
export class SessionToken {
  private token: string | null = null;
  private epoch = 0;

  /** The held token, or null before the first write or read. */
  get current(): string | null {
    return this.token;
  }

  /** What a query sends, and the mark it later hands to {@link fromRead}. */
  snapshot(): { token: string | null; epoch: number } {
    return { token: this.token, epoch: this.epoch };
  }

  /** Keeps the token of a completed write. */
  fromWrite(token: string): void {
    this.token = token;
    this.epoch++;
  }

  /** Keeps the token of a completed query if it was sent with the still-held token. */
  fromRead(token: string, sent: { token: string | null; epoch: number }, usedHeld: boolean): void {
    if (!usedHeld || sent.epoch !== this.epoch) return;
    this.token = token;
    this.epoch++;
  }

  /** Replaces the held token (e.g. one handed over from another process); null forgets it. */
  set(token: string | null): void {
    this.token = token;
    this.epoch++;
  }
}
