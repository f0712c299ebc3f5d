import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** One passage of the SAP Fiori documentation with its all-MiniLM-L6-v2 embedding. */
export interface FioriRecord {
  id: string;
  text: string;
  vector: Float32Array;
}

/**
 * Reads the real RAG dataset that installs with npm: `@sap-ux/fiori-docs-embeddings`
 * (778 × 384 all-MiniLM-L6-v2 embeddings of SAP Fiori documentation chunks, Apache-2.0):
 * `data/embeddings/embeddings.bin` (row-major little-endian float32) and `records.jsonl`
 * (one record per row, same order).
 */
export function loadFioriRecords(): { dim: number; model: string; records: FioriRecord[] } {
  const require = createRequire(import.meta.url);
  let root: string;
  try {
    root = dirname(require.resolve('@sap-ux/fiori-docs-embeddings/package.json'));
  } catch {
    root = join(process.cwd(), 'node_modules', '@sap-ux', 'fiori-docs-embeddings');
  }
  const dir = join(root, 'data', 'embeddings');
  const meta = JSON.parse(readFileSync(join(dir, 'metadata.json'), 'utf8')) as {
    dimensions: number;
    model: string;
  };
  const bin = readFileSync(join(dir, 'embeddings.bin'));
  const all = new Float32Array(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength));
  const lines = readFileSync(join(dir, 'records.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.trim());
  const dim = meta.dimensions;
  const records = lines.map((line, i) => {
    const r = JSON.parse(line) as { id: string; content: string };
    return { id: r.id, text: r.content, vector: all.slice(i * dim, (i + 1) * dim) };
  });
  return { dim, model: meta.model, records };
}
