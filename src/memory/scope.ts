// tidy-style lifetimes: every tensor made inside tidy(fn) is disposed when fn returns, except
// what fn returns and what keep() marked. Scopes nest; results move to the enclosing scope.

export interface Disposable {
  dispose(): void;
  readonly isDisposed: boolean;
}

const stack: Set<Disposable>[] = [];

/** Called by every tensor constructor. */
export function track(t: Disposable): void {
  if (stack.length > 0) stack[stack.length - 1].add(t);
}

/** Exempts a tensor from disposal by every enclosing tidy(). */
export function keep<T extends Disposable>(t: T): T {
  for (const scope of stack) scope.delete(t);
  return t;
}

/** True when the innermost scope owns t (it would be disposed on exit). */
export function ownedByScope(t: Disposable): boolean {
  return stack.length > 0 && stack[stack.length - 1].has(t);
}

export function tidy<T>(fn: () => T): T {
  const scope = new Set<Disposable>();
  stack.push(scope);
  let result: T;
  try {
    result = fn();
    if (result instanceof Promise) {
      throw new Error('tidy: fn returned a Promise; tidy only manages synchronous code');
    }
  } catch (e) {
    stack.pop();
    for (const t of scope) if (!t.isDisposed) t.dispose();
    throw e;
  }
  stack.pop();
  const survivors = new Set<Disposable>();
  collect(result, survivors, 0);
  for (const t of scope) {
    if (survivors.has(t)) track(t);
    else if (!t.isDisposed) t.dispose();
  }
  return result;
}

function collect(value: unknown, out: Set<Disposable>, depth: number): void {
  if (value === null || typeof value !== 'object' || depth > 3) return;
  if ('dispose' in value && 'isDisposed' in value) {
    out.add(value as Disposable);
    return;
  }
  const items = Array.isArray(value) ? value : Object.values(value);
  for (const v of items) collect(v, out, depth + 1);
}

/** Disposes one tensor or every tensor in an array/object. */
export function dispose(value: unknown): void {
  const all = new Set<Disposable>();
  collect(value, all, 0);
  for (const t of all) if (!t.isDisposed) t.dispose();
}
