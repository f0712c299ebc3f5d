import { createHmac, timingSafeEqual } from 'node:crypto';
import { ApiError } from './http/errors.ts';

/**
 * Session tokens: opaque to clients, versioned, and signed so a router never waits for
 * a position that no write produced. Format `m1.<seq base36>.<hmac 16 hex>`. A token
 * that does not parse or verify is a 400, never a wait.
 */
const VERSION = 'm1';

export class TokenCodec {
  constructor(private readonly secret: string) {}

  encode(seq: number): string {
    const body = `${VERSION}.${Math.max(0, Math.floor(seq)).toString(36)}`;
    return `${body}.${this.mac(body)}`;
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
