import type { Sample } from '../merge/model.js';
import { escapeLabelValue } from './escape.js';

/**
 * The `name{l1="v1",l2="v2"} ` prefix of a sample line (trailing space included), shared by both
 * formats. Memoised in `sample.exposition`: samples are long-lived and their labels never change.
 */
export function samplePrefix(sample: Sample): string {
  const memo = sample.exposition;
  if (memo !== undefined) return memo;
  let out = sample.name;
  const labels = sample.labels;
  if (labels.length > 0) {
    out += '{';
    for (let i = 0; i < labels.length; i++) {
      const label = labels[i]!;
      if (i > 0) out += ',';
      out += `${label[0]}="${escapeLabelValue(label[1])}"`;
    }
    out += '}';
  }
  out += ' ';
  sample.exposition = out;
  return out;
}
