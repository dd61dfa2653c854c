/** Element types. float16/bfloat16 are storage types: ops compute in float32. */
export type DType = 'float32' | 'float16' | 'bfloat16' | 'int32';
/** 'cpu', or a CUDA device ('cuda' = 'cuda:0'). */
export type Device = 'cpu' | 'cuda' | `cuda:${number}`;
export type Shape = readonly number[];

export const DTYPES: readonly DType[] = ['float32', 'float16', 'bfloat16', 'int32'];

/** Typed array accepted for each dtype when creating a tensor. */
export type TensorData = Float32Array | Int32Array | Uint16Array | number[];
