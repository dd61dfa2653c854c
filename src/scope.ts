// Scopes for temporaries: every Tensor created while a scope runs is disposed when it ends, except
// the ones it returns (found in arrays and plain objects) and the ones passed to keep().
// Works across `await` (AsyncLocalStorage), so async scopes collect their own tensors only.
import { AsyncLocalStorage } from 'node:async_hooks';

export interface Disposable_ {
  dispose(): void;
  readonly disposed: boolean;
}

interface ScopeFrame {
  tracked: Set<Disposable_>;
}

const storage = new AsyncLocalStorage<ScopeFrame>();
const kept = new WeakSet<Disposable_>();

/** @internal Called by Tensor's constructor. */
export function track(t: Disposable_): void {
  storage.getStore()?.tracked.add(t);
}

/** Marks a tensor to survive the enclosing scope. Returns it. */
export function keep<T extends Disposable_>(t: T): T {
  kept.add(t);
  return t;
}

function collectReturned(v: unknown, out: Set<unknown>, depth = 0): void {
  if (v === null || typeof v !== 'object' || depth > 8) return;
  if (out.has(v)) return;
  out.add(v);
  if (Array.isArray(v)) for (const x of v) collectReturned(x, out, depth + 1);
  else if (v instanceof Map) for (const x of v.values()) collectReturned(x, out, depth + 1);
  else if (Object.getPrototypeOf(v) === Object.prototype) for (const x of Object.values(v)) collectReturned(x, out, depth + 1);
}

function release(frame: ScopeFrame, result: unknown): void {
  const returned = new Set<unknown>();
  collectReturned(result, returned);
  const parent = storage.getStore();
  for (const t of frame.tracked) {
    if (returned.has(t) || kept.has(t)) {
      parent?.tracked.add(t); // survives this scope, belongs to the enclosing one
    } else if (!t.disposed) {
      t.dispose();
    }
  }
  frame.tracked.clear();
}

/**
 * Runs fn and disposes every tensor it created, except those it returns or keep()s.
 * fn may be async; the scope then ends when its promise settles.
 */
export function scope<T>(fn: () => T): T {
  const frame: ScopeFrame = { tracked: new Set() };
  let result: T;
  try {
    result = storage.run(frame, fn);
  } catch (e) {
    release(frame, undefined);
    throw e;
  }
  if (result instanceof Promise) {
    return result.then(
      (v) => {
        release(frame, v);
        return v;
      },
      (e) => {
        release(frame, undefined);
        throw e;
      },
    ) as T;
  }
  release(frame, result);
  return result;
}
