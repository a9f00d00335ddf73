/**
 * Which library's rules a file follows (docs/FORMAT.md §3, §4): the writer writes one (its `layout`
 * option), the reader tells them apart by a file's key shape and value slot width (§3.1).
 */
import type { SlotWidth } from './layout.js';

/** `python`: prometheus_client ≥ 0.18; `python-legacy`: ≤ 0.17; `ruby`: prometheus-client-mmap. */
export const DIALECTS = ['python', 'python-legacy', 'ruby'] as const;
export type Dialect = (typeof DIALECTS)[number];

/** Bytes per value: 16 (value and timestamp) in python, 8 in python-legacy and ruby (docs/FORMAT.md §3). */
export function slotWidthOf(dialect: Dialect): SlotWidth {
  return dialect === 'python' ? 16 : 8;
}
