import hnswlib from 'hnswlib-node';
import type { HierarchicalNSW as HnswIndex } from 'hnswlib-node';

/**
 * The one place that touches hnswlib-node's constructor. hnswlib-node is a CommonJS
 * native addon, so its classes come off the default export under ESM.
 */
export type { HnswIndex };
export const HierarchicalNSW = hnswlib.HierarchicalNSW;

/** The seed every build uses, so that the same points give the same graph bytes. */
export const HNSW_SEED = 100;
