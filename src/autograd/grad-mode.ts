let enabled = true;

export function isGradEnabled(): boolean {
  return enabled;
}

/** Runs fn without recording the autograd graph (PyTorch's torch.no_grad). */
export function noGrad<T>(fn: () => T): T {
  const prev = enabled;
  enabled = false;
  try {
    return fn();
  } finally {
    enabled = prev;
  }
}
