// ShapeEdit: a synthetic instruction-editing benchmark with exact ground truth (issue 7).
export * from './scene';
export * from './edits';
export * from './generate';
export * from './check';
export * from './evaluate';
