// drizzle-kit configuration: `npm run db:generate` diffs catalog/schema.ts against the
// committed snapshots and writes the next migration into catalog/migrations.
import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'sqlite',
  schema: './catalog/schema.ts',
  out: './catalog/migrations',
});
