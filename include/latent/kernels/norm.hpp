// Fused normalisation kernels: per-channel batch statistics (batch_norm) and per-row statistics (layer_norm,
// group_norm), the normalise-and-affine pass and the backward passes, each reading x and the gradient at most twice.
#pragma once

#include <algorithm>
#include <cmath>

#include "eigen.hpp"
#include "parallel.hpp"

namespace latent::kernels {

// ---- batch_norm: x viewed as [N, C, S]; channel c holds x[n, c, s] for all n, s --------------------------------------

struct ChannelLayout {
  index_t batch = 0, channels = 0, inner = 1;
  index_t count() const { return batch * inner; }  // values per channel
};

namespace norm_detail {
/// Calls fn(c0, c1) on blocks of channels, in parallel: with inner == 1 the channels of one sample are contiguous, so a
/// block is 64 channels and the loops are vectorised across them; otherwise a block is one channel.
template <class Fn>
void for_channel_blocks(const ChannelLayout& l, index_t passes, Fn&& fn) {
  const index_t width = l.inner == 1 ? 64 : 1;
  const index_t blocks = (l.channels + width - 1) / width;
  parallel_for(0, blocks, passes * l.batch * l.channels * l.inner, [&](index_t b) { fn(b * width, std::min(l.channels, (b + 1) * width)); });
}
}  // namespace norm_detail

/// mean[c] and the biased variance var[c] of x over n and s. Two passes: the centred sum of squares stays accurate
/// where E[x²] - E[x]² would cancel.
template <class T>
void channel_moments(const T* x, const ChannelLayout& l, T* mean, T* var) {
  const index_t C = l.channels, S = l.inner;
  const T inv = T(1) / static_cast<T>(l.count());
  norm_detail::for_channel_blocks(l, 3, [&](index_t c0, index_t c1) {
    if (S == 1) {
      ArrayMap<T> m(mean + c0, c1 - c0), v(var + c0, c1 - c0);
      m.setZero();
      for (index_t n = 0; n < l.batch; ++n) m += ConstArrayMap<T>(x + n * C + c0, c1 - c0);
      m *= inv;
      v.setZero();
      for (index_t n = 0; n < l.batch; ++n) v += (ConstArrayMap<T>(x + n * C + c0, c1 - c0) - m).square();
      v *= inv;
      return;
    }
    T s = 0;
    for (index_t n = 0; n < l.batch; ++n) s += ConstArrayMap<T>(x + (n * C + c0) * S, S).sum();
    const T m = s * inv;
    T q = 0;
    for (index_t n = 0; n < l.batch; ++n) q += (ConstArrayMap<T>(x + (n * C + c0) * S, S) - m).square().sum();
    mean[c0] = m;
    var[c0] = q * inv;
  });
}

/// y[n, c, s] = a[n, c, s] · ka[c] + b[n, c, s] · kb[c] + k0[c]; b and kb may both be null (then y = a·ka + k0).
/// Forward: y = x·scale + shift. Backward: dx = g·k1 + x·k2 + k3.
template <class T>
void channel_combine(const T* a, const T* ka, const T* b, const T* kb, const T* k0, T* y, const ChannelLayout& l) {
  const index_t C = l.channels, S = l.inner;
  if (S == 1) {
    const ConstArrayMap<T> pa(ka, C), p0(k0, C);
    parallel_for(0, l.batch, 3 * l.batch * C, [&](index_t n) {
      ArrayMap<T> out(y + n * C, C);
      const ConstArrayMap<T> va(a + n * C, C);
      if (b) out = va * pa + ConstArrayMap<T>(b + n * C, C) * ConstArrayMap<T>(kb, C) + p0;
      else out = va * pa + p0;
    });
    return;
  }
  parallel_for(0, l.batch * C, 3 * l.batch * C * S, [&](index_t nc) {
    const index_t c = nc % C;
    ArrayMap<T> out(y + nc * S, S);
    const ConstArrayMap<T> va(a + nc * S, S);
    if (b) out = va * ka[c] + ConstArrayMap<T>(b + nc * S, S) * kb[c] + k0[c];
    else out = va * ka[c] + k0[c];
  });
}

/// sum_g[c] = Σ g and sum_gx[c] = Σ g (x - mean[c]) over n and s: what batch_norm's backward needs.
template <class T>
void channel_grad_sums(const T* x, const T* g, const T* mean, const ChannelLayout& l, T* sum_g, T* sum_gx) {
  const index_t C = l.channels, S = l.inner;
  norm_detail::for_channel_blocks(l, 4, [&](index_t c0, index_t c1) {
    if (S == 1) {
      const index_t w = c1 - c0;
      ArrayMap<T> sg(sum_g + c0, w), sgx(sum_gx + c0, w);
      const ConstArrayMap<T> m(mean + c0, w);
      sg.setZero();
      sgx.setZero();
      for (index_t n = 0; n < l.batch; ++n) {
        const ConstArrayMap<T> gv(g + n * C + c0, w);
        sg += gv;
        sgx += gv * (ConstArrayMap<T>(x + n * C + c0, w) - m);
      }
      return;
    }
    T sg = 0, sgx = 0;
    const T m = mean[c0];
    for (index_t n = 0; n < l.batch; ++n) {
      const ConstArrayMap<T> gv(g + (n * C + c0) * S, S);
      sg += gv.sum();
      sgx += (gv * (ConstArrayMap<T>(x + (n * C + c0) * S, S) - m)).sum();
    }
    sum_g[c0] = sg;
    sum_gx[c0] = sgx;
  });
}

// ---- layer_norm / group_norm: rows of length L = group_channels · inner, normalised each on its own ------------------
// Row r is group r % groups of sample r / groups; its element i belongs to channel (r % groups)·group_channels + i / inner,
// which picks the affine weight and bias. layer_norm: groups = 1, group_channels = the normalised size, inner = 1.

struct RowLayout {
  index_t rows = 0, groups = 1, group_channels = 0, inner = 1;
  index_t length() const { return group_channels * inner; }
  index_t channels() const { return groups * group_channels; }
};

/// y = (x - mean_r) · rstd_r · w[c] + b[c]; stores mean[r] and rstd[r] = 1 / sqrt(biased var + eps). w, b may be null.
template <class T>
void row_norm_forward(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd, const RowLayout& l, double eps) {
  const index_t L = l.length(), Cg = l.group_channels, S = l.inner;
  parallel_for(0, l.rows, 4 * l.rows * L, [&](index_t r) {
    const ConstArrayMap<T> row(x + r * L, L);
    ArrayMap<T> out(y + r * L, L);
    const T m = row.sum() / static_cast<T>(L);
    const T rs = T(1) / std::sqrt((row - m).square().sum() / static_cast<T>(L) + static_cast<T>(eps));
    mean[r] = m;
    rstd[r] = rs;
    const index_t c0 = (r % l.groups) * Cg;
    if (S == 1) {
      if (w && b) out = (row - m) * rs * ConstArrayMap<T>(w + c0, L) + ConstArrayMap<T>(b + c0, L);
      else if (w) out = (row - m) * rs * ConstArrayMap<T>(w + c0, L);
      else if (b) out = (row - m) * rs + ConstArrayMap<T>(b + c0, L);
      else out = (row - m) * rs;
      return;
    }
    for (index_t j = 0; j < Cg; ++j) {
      const T scale = w ? rs * w[c0 + j] : rs;
      const T shift = (b ? b[c0 + j] : T(0)) - m * scale;
      out.segment(j * S, S) = row.segment(j * S, S) * scale + shift;
    }
  });
}

/// dx of row_norm_forward for the incoming g: with ĝ = g · w[c] and x̂ = (x - mean) · rstd,
/// dx = rstd (ĝ - mean_row(ĝ) - x̂ mean_row(ĝ x̂)).
template <class T>
void row_norm_backward_input(const T* x, const T* w, const T* g, const T* mean, const T* rstd, T* dx, const RowLayout& l) {
  const index_t L = l.length(), Cg = l.group_channels, S = l.inner;
  const T inv = T(1) / static_cast<T>(L);
  parallel_for(0, l.rows, 6 * l.rows * L, [&](index_t r) {
    const ConstArrayMap<T> xr(x + r * L, L), gr(g + r * L, L);
    ArrayMap<T> out(dx + r * L, L);
    const T m = mean[r], rs = rstd[r];
    const index_t c0 = (r % l.groups) * Cg;
    if (S == 1) {
      if (w) {
        const ConstArrayMap<T> wr(w + c0, L);
        const T a = (gr * wr).sum() * inv, q = (gr * wr * (xr - m)).sum() * inv * rs * rs;
        out = rs * (gr * wr - a - (xr - m) * q);
      } else {
        const T a = gr.sum() * inv, q = (gr * (xr - m)).sum() * inv * rs * rs;
        out = rs * (gr - a - (xr - m) * q);
      }
      return;
    }
    T a = 0, q = 0;
    for (index_t j = 0; j < Cg; ++j) {
      const T wc = w ? w[c0 + j] : T(1);
      const auto gs = gr.segment(j * S, S);
      a += wc * gs.sum();
      q += wc * (gs * (xr.segment(j * S, S) - m)).sum();
    }
    a *= inv;
    q *= inv * rs * rs;
    for (index_t j = 0; j < Cg; ++j) {
      const T wc = w ? w[c0 + j] : T(1);
      out.segment(j * S, S) = rs * (gr.segment(j * S, S) * wc - a - (xr.segment(j * S, S) - m) * q);
    }
  });
}

/// dw[c] = Σ g x̂ and db[c] = Σ g over the rows and positions of channel c (either may be null). Parallel over blocks of
/// channels within a group (64 wide when inner == 1, so the loops are vectorised across channels).
template <class T>
void row_norm_backward_affine(const T* x, const T* g, const T* mean, const T* rstd, T* dw, T* db, const RowLayout& l) {
  const index_t L = l.length(), Cg = l.group_channels, S = l.inner, G = l.groups, N = l.groups > 0 ? l.rows / l.groups : 0;
  const index_t width = S == 1 ? 64 : 1, per_group = (Cg + width - 1) / width;
  parallel_for(0, G * per_group, 3 * l.rows * L, [&](index_t block) {
    const index_t gi = block / per_group, j0 = (block % per_group) * width, j1 = std::min(Cg, j0 + width), c0 = gi * Cg + j0;
    const index_t w = (j1 - j0) * S;  // elements of the block in one row
    if (S == 1) {  // accumulate straight into the outputs (kernels do not allocate)
      if (dw) {
        ArrayMap<T> out(dw + c0, w);
        out.setZero();
        for (index_t n = 0; n < N; ++n) {
          const index_t r = n * G + gi;
          out += ConstArrayMap<T>(g + r * L + j0, w) * (ConstArrayMap<T>(x + r * L + j0, w) - mean[r]) * rstd[r];
        }
      }
      if (db) {
        ArrayMap<T> out(db + c0, w);
        out.setZero();
        for (index_t n = 0; n < N; ++n) out += ConstArrayMap<T>(g + (n * G + gi) * L + j0, w);
      }
      return;
    }
    T sw = 0, sb = 0;
    for (index_t n = 0; n < N; ++n) {
      const index_t r = n * G + gi;
      const ConstArrayMap<T> gv(g + r * L + j0 * S, S);
      if (dw) sw += (gv * (ConstArrayMap<T>(x + r * L + j0 * S, S) - mean[r])).sum() * rstd[r];
      if (db) sb += gv.sum();
    }
    if (dw) dw[c0] = sw;
    if (db) db[c0] = sb;
  });
}

}  // namespace latent::kernels
