// Analytic FLOP count of a UNet2DConditionModel forward (diffusers config.json), for the unet
// benchmark's GFLOP/s figures. Counts 2 FLOPs per multiply-add of every convolution, every linear
// layer (time embedding, time projections, q/k/v/out, GEGLU feed-forward, linear proj_in/out) and
// both attention matmuls (q·kᵀ and p·v: 4·B·Nq·Nk·C, whatever the head split). Norms, activations,
// softmax, residual adds and the upsampling copy are left out (under 1% of the total at SD sizes).
// forward + backward is counted as 3× forward (the backward computes input and weight gradients,
// each costing one forward's multiply-adds). bench/peers/torch_unet.py --flops counts the same
// thing with module hooks on the real model; the two agree exactly.

function perBlock(v, n) {
  return Array.isArray(v) ? v.slice() : Array(n).fill(v);
}

/** { conv, linear, attention, total } FLOPs of one forward at batch B, H×W latents, `tokens` text tokens. */
export function unetForwardFlops(config, { batch: B, height: H, width: W, tokens = 77 }) {
  const boc = config.block_out_channels;
  const n = boc.length;
  const lpb = perBlock(config.layers_per_block ?? 2, n);
  const depth = perBlock(config.transformer_layers_per_block ?? 1, n);
  const ctxDim = config.cross_attention_dim ?? 1280;
  const temb = config.time_embedding_dim ?? 4 * boc[0];
  const kin = config.conv_in_kernel ?? 3, kout = config.conv_out_kernel ?? 3;
  const f = { conv: 0, linear: 0, attention: 0 };
  const conv = (cin, cout, k, h, w) => (f.conv += 2 * B * cin * cout * k * k * h * w);
  const lin = (i, o, rows) => (f.linear += 2 * rows * i * o);
  const resnet = (cin, cout, h, w) => {
    conv(cin, cout, 3, h, w);
    lin(temb, cout, B);
    conv(cout, cout, 3, h, w);
    if (cin !== cout) conv(cin, cout, 1, h, w);
  };
  const transformer = (c, h, w, d) => {
    const N = B * h * w;
    conv(c, c, 1, h, w); // proj_in (a linear of the same cost with use_linear_projection)
    for (let i = 0; i < d; i++) {
      lin(c, c, N); lin(c, c, N); lin(c, c, N); lin(c, c, N); // attn1 q, k, v, out
      f.attention += 4 * B * (h * w) * (h * w) * c;
      lin(c, c, N); lin(ctxDim, c, B * tokens); lin(ctxDim, c, B * tokens); lin(c, c, N); // attn2
      f.attention += 4 * B * (h * w) * tokens * c;
      lin(c, 8 * c, N); lin(4 * c, c, N); // GEGLU ff
    }
    conv(c, c, 1, h, w); // proj_out
  };
  const cross = (t) => t.startsWith('CrossAttn');

  lin(boc[0], temb, B);
  lin(temb, temb, B);
  let h = H, w = W;
  conv(config.in_channels, boc[0], kin, h, w);
  const skips = [{ c: boc[0], h, w }];
  let ch = boc[0];
  config.down_block_types.forEach((t, i) => {
    for (let j = 0; j < lpb[i]; j++) {
      resnet(j === 0 ? ch : boc[i], boc[i], h, w);
      if (cross(t)) transformer(boc[i], h, w, depth[i]);
      skips.push({ c: boc[i], h, w });
    }
    ch = boc[i];
    if (i < n - 1) {
      h = Math.ceil(h / 2);
      w = Math.ceil(w / 2);
      conv(ch, ch, 3, h, w);
      skips.push({ c: ch, h, w });
    }
  });
  if ((config.mid_block_type ?? 'UNetMidBlock2DCrossAttn') !== null) {
    resnet(ch, ch, h, w);
    transformer(ch, h, w, depth[n - 1]);
    resnet(ch, ch, h, w);
  }
  const rboc = [...boc].reverse(), rl = [...lpb].reverse(), rd = [...depth].reverse();
  config.up_block_types.forEach((t, i) => {
    for (let j = 0; j < rl[i] + 1; j++) {
      const s = skips.pop();
      resnet(ch + s.c, rboc[i], h, w);
      ch = rboc[i];
      if (cross(t)) transformer(ch, h, w, rd[i]);
    }
    if (i < n - 1) {
      const next = skips[skips.length - 1];
      h = next.h; // ×2, or the next skip's size when H, W are not multiples of 2^(n-1)
      w = next.w;
      conv(ch, ch, 3, h, w);
    }
  });
  conv(boc[0], config.out_channels ?? 4, kout, h, w);
  return { ...f, total: f.conv + f.linear + f.attention };
}
