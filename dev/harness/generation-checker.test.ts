import { describe, expect, it } from 'vitest';
import { checkGenerations } from './generation-checker.ts';
import type { GenerationRead } from './generation-checker.ts';

const read = (o: Partial<GenerationRead>): GenerationRead => ({
  client: 'c',
  model: null,
  generation: 'a@1',
  appliedSeq: 0,
  ...o,
});

// B active from seq 10, A again from seq 20 (the rollback).
const activations = [
  { model: 'a@1', seq: 20 },
  { model: 'b@2', seq: 10 },
];

describe('checkGenerations', () => {
  it('passes a legal history: each position answered by the generation active there', () => {
    const r = checkGenerations(
      [
        read({ appliedSeq: 9 }),
        read({ appliedSeq: 10, generation: 'b@2' }),
        read({ appliedSeq: 19, generation: 'b@2', resultGenerations: ['b@2', 'b@2'] }),
        read({ appliedSeq: 20 }),
        read({ appliedSeq: 15, model: 'a@1' }),
      ],
      activations,
      'a@1',
    );
    expect(r.violations).toEqual([]);
    expect(r.checked).toEqual({ named: 1, 'active-at-position': 4, mixed: 1 });
  });

  it('finds B served as active before its commit, A after it, a wrong named answer, and a mix', () => {
    const r = checkGenerations(
      [
        read({ client: 'early', appliedSeq: 9, generation: 'b@2' }),
        read({ client: 'stale', appliedSeq: 12, generation: 'a@1' }),
        read({ client: 'named', model: 'b@2', generation: 'a@1', appliedSeq: 25 }),
        read({ client: 'mixed', appliedSeq: 25, resultGenerations: ['a@1', 'b@2'] }),
      ],
      activations,
      'a@1',
    );
    expect(r.violations.map((v) => [v.rule, v.read.client, v.expected])).toEqual([
      ['active-at-position', 'early', 'a@1'],
      ['active-at-position', 'stale', 'b@2'],
      ['named', 'named', 'b@2'],
      ['mixed', 'mixed', 'a@1'],
    ]);
  });
});
