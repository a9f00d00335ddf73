/**
 * How each library writes a histogram bound into the `le` label of its keys (docs/FORMAT.md §4), so
 * the writer's keys are byte-identical to the library's for the same bucket; and how a bound is
 * read back from any of them.
 */

/**
 * The bound an `le` value names: `+Inf`/`Inf`/`inf`, `-Inf`/`-inf`, or a number as JavaScript
 * reads it (`1`, `1.0`, `1e+08`, `1.0e-05`); NaN when it is none (then the entry is no bucket).
 */
export function parseBound(le: string): number {
  if (le === '+Inf' || le === 'Inf' || le === 'inf') return Infinity;
  if (le === '-Inf' || le === '-inf') return -Infinity;
  const v = Number(le);
  return le.trim() === '' ? NaN : v;
}

/** Shortest round-trip digits and decimal exponent of a finite non-zero number: 1.5e-7 → ['15', -7]. */
function shortest(v: number): [digits: string, exponent: number] {
  const [mantissa, exp] = Math.abs(v).toExponential().split('e') as [string, string];
  return [mantissa.replace('.', ''), Number(exp)];
}

/** Digits placed in fixed notation: ('15', 1) → '15', ('15', -2) → '0.015', ('15', 3) → '1500'. */
function fixed(digits: string, exponent: number): { int: string; frac: string } {
  if (exponent < 0) return { int: '0', frac: '0'.repeat(-exponent - 1) + digits };
  const int = digits.slice(0, exponent + 1).padEnd(exponent + 1, '0');
  return { int, frac: digits.slice(exponent + 1) };
}

/** Python `repr(float)`: fixed for 1e-4 <= |v| < 1e16 (always with a fraction), else `1.5e-07`. */
export function pythonFloatRepr(v: number): string {
  if (Number.isNaN(v)) return 'nan';
  if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf';
  if (v === 0) return Object.is(v, -0) ? '-0.0' : '0.0';
  const sign = v < 0 ? '-' : '';
  const [digits, e] = shortest(v);
  if (e >= -4 && e < 16) {
    const { int, frac } = fixed(digits, e);
    return `${sign}${int}.${frac === '' ? '0' : frac}`;
  }
  const mantissa = digits.length === 1 ? digits : `${digits[0]}.${digits.slice(1)}`;
  return `${sign}${mantissa}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
}

/**
 * Python's `floatToGoString` (utils.py), the `le` text of Python histograms. Released versions up
 * to 0.25.0 write the exponent of large bounds as `e+0NN` (`1.2345678901e+010`); the current
 * source (the `python` layout, as in the `v025-` fixtures) writes `e+NN` (`1.2345678901e+10`).
 */
export function pythonBound(v: number, legacyExponent: boolean): string {
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  if (Number.isNaN(v)) return 'NaN';
  const s = pythonFloatRepr(v);
  const dot = s.indexOf('.');
  if (v > 0 && dot > 6) {
    const mantissa = `${s[0]}.${s.slice(1, dot)}${s.slice(dot + 1)}`.replace(/[0.]+$/, '');
    const exp = dot - 1;
    return legacyExponent ? `${mantissa}e+0${exp}` : `${mantissa}e+${String(exp).padStart(2, '0')}`;
  }
  return s;
}

/**
 * Ruby `bucket.to_s`, the `le` text of the gem's histograms: integral bounds as Ruby Integers
 * (`1`, `10`, as the gem's users write them), others as Ruby `Float#to_s`: fixed for
 * 1e-4 <= |v| < 1e15, else `1.0e-05`.
 */
export function rubyBound(v: number): string {
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  if (Number.isNaN(v)) return 'NaN';
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return Object.is(v, -0) ? '0' : String(v);
  const sign = v < 0 ? '-' : '';
  const [digits, e] = shortest(v);
  if (e >= -4 && e < 15) {
    const { int, frac } = fixed(digits, e);
    return `${sign}${int}.${frac === '' ? '0' : frac}`;
  }
  const mantissa = `${digits[0]}.${digits.length === 1 ? '0' : digits.slice(1)}`;
  return `${sign}${mantissa}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
}
