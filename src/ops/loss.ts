import { native } from '../native';
import { Tensor, full } from '../tensor';
import { h, T } from './wrap';

/** mean((pred − target)²), a 0-d tensor. */
export function mseLoss(pred: Tensor, target: Tensor): Tensor {
  return T(native.mseLoss(h(pred, 'mseLoss', 'pred'), h(target, 'mseLoss', 'target')));
}

/** ∂L/∂pred = dloss · 2(pred − target)/n; dloss defaults to 1. */
export function mseLossBackward(pred: Tensor, target: Tensor, dloss?: Tensor): Tensor {
  const g = dloss ?? full([], 1, { device: pred.device });
  try {
    return T(native.mseLossBackward(h(pred, 'mseLossBackward', 'pred'), h(target, 'mseLossBackward', 'target'), h(g, 'mseLossBackward', 'dloss')));
  } finally {
    if (!dloss) g.dispose();
  }
}
