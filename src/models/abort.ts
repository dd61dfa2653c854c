// AbortSignal -> the native cancel token a model pass checks between its blocks.
import { native } from '../native';

type Token = { cancel(): void };

function abortError(model: string): Error {
  const e = new Error(`${model}: cancelled`);
  e.name = 'AbortError';
  return e;
}

/**
 * Runs `start(token)` (which enqueues a native pass and returns its promise) so that aborting
 * `signal` cancels the pass: an already aborted signal throws before anything is queued, and a
 * pass that fails after an abort rejects with an AbortError.
 */
export async function cancellable<T>(signal: AbortSignal | undefined, model: string, start: (token: Token | undefined) => Promise<T>): Promise<T> {
  if (signal?.aborted) throw abortError(model);
  const Ctor = native.NativeCancelToken as unknown as new () => Token;
  const token = signal ? new Ctor() : undefined;
  const onAbort = () => token?.cancel();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return await start(token);
  } catch (e) {
    if (signal?.aborted) throw abortError(model);
    throw e;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}
