// Numeric command-line flags, shared by the commands: an absent flag takes its default, a bad one throws an
// InputError naming the flag.
import { InputError } from "../core/errors";

/** An integer flag >= min (default 0); absent -> fallback (which may be undefined: "not given"). */
export function intFlag<F extends number | undefined>(value: string | undefined, name: string, fallback: F, min = 0): number | F {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new InputError(`must be an integer >= ${min}, got "${value}"`, { field: name });
  return n;
}

/** A finite number flag that passes `check` (default: any); absent -> fallback. */
export function numFlag(value: string | undefined, name: string, fallback: number, check: (n: number) => boolean = () => true): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || !check(n)) throw new InputError(`invalid value "${value}"`, { field: name });
  return n;
}
