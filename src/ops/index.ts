// ops: functional kernels, forward and backward. Every call validates its arguments before any
// work is queued and throws an Error naming the op, the argument, what it got and what it expected.
export * from './linear';
export * from './conv';
export * from './norm';
export * from './activation';
export * from './attention';
export * from './resample';
export * from './elementwise';
export * from './shape';
export * from './loss';
export * from './guidance';
export * from './triplet';
export * from './optimizer';
