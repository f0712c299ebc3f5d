import { createHmac, timingSafeEqual } from 'node:crypto';
import { ApiError } from './http/errors.ts';

/**
 * Session tokens: opaque to clients, versioned, and signed so a router never waits for
 * a position that no write produced. Format `m1.<seq base36>.<hmac 16 hex>`. A token
 * that does not parse or verify is a 400, never a wait.
 */
const VERSION = 'm1';

export class TokenCodec {
  /**
   * The last token encoded: every answer carries one, and between two applied writes
   * every answer carries the same, so one HMAC per applied position instead of per query.
   */
  private last = { seq: -1, token: '' };

  constructor(private readonly secret: string) {}

  encode(seq: number): string {
    const n = Math.max(0, Math.floor(seq));
    if (n === this.last.seq) return this.last.token;
    const body = `${VERSION}.${n.toString(36)}`;
    const token = `${body}.${this.mac(body)}`;
    this.last = { seq: n, token };
    return token;
  }

  /** The seq inside a token; throws `invalid_token` (400) when it is malformed or forged. */
  decode(token: string): number {
    const parts = token.split('.');
    if (parts.length !== 3 || parts[0] !== VERSION || !/^[0-9a-z]{1,12}$/.test(parts[1]!)) {
      throw new ApiError(
        'invalid_token',
        'malformed session token (expected one returned by Meridian)',
      );
    }
    const body = `${parts[0]}.${parts[1]}`;
    const want = Buffer.from(this.mac(body));
    const got = Buffer.from(parts[2]!);
    if (got.length !== want.length || !timingSafeEqual(got, want)) {
      throw new ApiError('invalid_token', 'session token signature does not verify');
    }
    return parseInt(parts[1]!, 36);
  }

  private mac(body: string): string {
    return createHmac('sha256', this.secret).update(body).digest('hex').slice(0, 16);
  }
}
