// Convolution as GEMM: im2col/col2im and the three mutually adjoint primitives (conv2d, its adjoint conv_transpose2d,
// the weight gradient); window sum/spread (average pooling, nearest upsampling), max pooling, bilinear interpolation.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "gemm.hpp"
#include "parallel.hpp"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace latent::kernels {

/// One convolution seen from conv2d. The image [N, C, H, W] is conv2d's input (conv_transpose2d's output); the
/// columns [N, K, OH, OW] are conv2d's output (conv_transpose2d's input); the weight is [K, C, kh, kw], i.e. a
/// [K, C·kh·kw] matrix. OH/OW may be smaller than the size conv2d would give (a crop): conv_transpose2d with an
/// output_padding of at least the stride has image rows no window reaches.
struct ConvGeometry {
  index_t batch = 0, channels = 0, height = 0, width = 0;
  index_t out_channels = 0, kernel_h = 1, kernel_w = 1;
  index_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dilation_h = 1, dilation_w = 1;
  index_t out_h = 0, out_w = 0;

  index_t patch() const { return channels * kernel_h * kernel_w; }  // rows of the column matrix
  index_t image_plane() const { return height * width; }
  index_t out_plane() const { return out_h * out_w; }
};

/// floor((in + 2 pad - dilation (kernel - 1) - 1) / stride) + 1, for a non-negative numerator.
inline index_t conv_out_size(index_t in, index_t kernel, index_t stride, index_t pad, index_t dilation) {
  return (in + 2 * pad - dilation * (kernel - 1) - 1) / stride + 1;
}

namespace conv_detail {

inline index_t ceil_div(index_t a, index_t b) { return (a + b - 1) / b; }

/// Output positions o in [lo, hi) whose input position o·stride + offset lies in [0, size).
inline void valid_range(index_t offset, index_t stride, index_t size, index_t out, index_t& lo, index_t& hi) {
  lo = offset >= 0 ? 0 : ceil_div(-offset, stride);
  hi = size - offset <= 0 ? 0 : ceil_div(size - offset, stride);
  hi = std::min(hi, out);
  lo = std::min(lo, hi);
}

/// [nb, K, L] (batch-major, a tensor) <-> [K, nb·L] (channel-major, a GEMM operand).
template <class T>
void to_channel_major(const T* src, T* dst, index_t nb, index_t K, index_t L) {
  parallel_for(0, nb * K, nb * K * L, [&](index_t nk) {
    const index_t n = nk / K, k = nk % K;
    std::memcpy(dst + (k * nb + n) * L, src + nk * L, static_cast<std::size_t>(L) * sizeof(T));
  });
}
/// dst[n, k, :] = src[k, n·L : (n+1)·L] + bias[k] (bias may be null).
template <class T>
void to_batch_major(const T* src, const T* bias, T* dst, index_t nb, index_t K, index_t L) {
  parallel_for(0, nb * K, nb * K * L, [&](index_t nk) {
    const index_t n = nk / K, k = nk % K;
    const ConstArrayMap<T> from(src + (k * nb + n) * L, L);
    ArrayMap<T> to(dst + nk * L, L);
    if (bias) to = from + bias[k];
    else to = from;
  });
}

/// Calls fn(n, c, n·C + c) for each of the nb·C image planes of a block, in parallel.
template <class Fn>
void for_each_plane(const ConvGeometry& g, index_t nb, Fn&& fn) {
  parallel_for(0, nb * g.channels, nb * g.patch() * g.out_plane(), [&](index_t nc) { fn(nc / g.channels, nc % g.channels, nc); });
}

#if defined(__AVX512F__)
/// Float planes whose rows fit in two registers (width <= 32) and whose output rows fit in one (out_w <= 16), as in
/// small generators and discriminators (W2: 7 or 14 outputs a row): im2col and col2im move a whole row with one
/// permute per kernel column instead of an element loop, about 4x faster on W2's 64 -> 128 channel convolution.
/// The permutes depend on the kernel column only, so they are built once per call.
class RowPermutes {
 public:
  static bool applies(const ConvGeometry& g) { return g.width <= 32 && g.out_w <= 16 && g.kernel_w <= max_kernel; }

  explicit RowPermutes(const ConvGeometry& g)
      : kernel_w_(g.kernel_w), out_mask_(__mmask16((1u << g.out_w) - 1u)),
        row_mask_(g.width >= 32 ? ~__mmask32(0) : __mmask32((std::uint32_t{1} << g.width) - 1u)) {
    for (index_t j = 0; j < g.kernel_w; ++j) {
      std::uint32_t gathered = 0, scattered = 0;
      for (index_t ow = 0; ow < g.out_w; ++ow) {
        const index_t w = ow * g.stride_w + j * g.dilation_w - g.pad_w;
        if (w < 0 || w >= g.width) continue;
        gather_[j][ow] = static_cast<std::int32_t>(w);
        gathered |= 1u << ow;
        scatter_[j][w] = static_cast<std::int32_t>(ow);
        scattered |= std::uint32_t{1} << w;
      }
      gather_valid_[j] = __mmask16(gathered);
      scatter_valid_[j] = __mmask32(scattered);
    }
  }

  /// im2col of one plane: dst + j·ld is the row of kernel offset (i, j) for i = 0, j = 0 at dst.
  void im2col(const float* plane, const ConvGeometry& g, index_t ld, float* dst) const {
    for (index_t i = 0; i < g.kernel_h; ++i)
      for (index_t oh = 0; oh < g.out_h; ++oh) {
        float* out = dst + i * g.kernel_w * ld + oh * g.out_w;
        const index_t h = oh * g.stride_h + i * g.dilation_h - g.pad_h;
        if (h < 0 || h >= g.height) {
          for (index_t j = 0; j < kernel_w_; ++j) _mm512_mask_storeu_ps(out + j * ld, out_mask_, _mm512_setzero_ps());
          continue;
        }
        const float* row = plane + h * g.width;
        const __m512 lo = _mm512_maskz_loadu_ps(__mmask16(row_mask_), row);
        const __m512 hi = _mm512_maskz_loadu_ps(__mmask16(row_mask_ >> 16), row + 16);
        for (index_t j = 0; j < kernel_w_; ++j)
          _mm512_mask_storeu_ps(out + j * ld, out_mask_,
                                _mm512_maskz_permutex2var_ps(gather_valid_[j], lo, _mm512_load_si512(gather_[j]), hi));
      }
  }

  /// col2im of one plane, row by row: each image row starts from the bias and gets the rows of kernel offsets (i, j)
  /// that reach it added in the order (i, j), as the element loop adds them, so the sums are the same.
  void col2im(const float* src, float bias, const ConvGeometry& g, index_t ld, float* plane) const {
    for (index_t h = 0; h < g.height; ++h) {
      __m512 lo = _mm512_set1_ps(bias), hi = lo;
      for (index_t i = 0; i < g.kernel_h; ++i) {
        const index_t from = h + g.pad_h - i * g.dilation_h;  // oh·stride_h
        if (from < 0 || from % g.stride_h != 0 || from / g.stride_h >= g.out_h) continue;
        const float* in = src + i * g.kernel_w * ld + from / g.stride_h * g.out_w;
        for (index_t j = 0; j < kernel_w_; ++j) {
          const __m512 c = _mm512_maskz_loadu_ps(out_mask_, in + j * ld);
          lo = _mm512_mask_add_ps(lo, __mmask16(scatter_valid_[j]), lo, _mm512_permutexvar_ps(_mm512_load_si512(scatter_[j]), c));
          hi = _mm512_mask_add_ps(hi, __mmask16(scatter_valid_[j] >> 16), hi,
                                  _mm512_permutexvar_ps(_mm512_load_si512(scatter_[j] + 16), c));
        }
      }
      float* row = plane + h * g.width;
      _mm512_mask_storeu_ps(row, __mmask16(row_mask_), lo);
      _mm512_mask_storeu_ps(row + 16, __mmask16(row_mask_ >> 16), hi);
    }
  }

 private:
  static constexpr index_t max_kernel = 16;
  index_t kernel_w_;
  __mmask16 out_mask_;
  __mmask32 row_mask_;
  alignas(64) std::int32_t gather_[max_kernel][16] = {};   // output lane ow of kernel column j reads image column
  alignas(64) std::int32_t scatter_[max_kernel][32] = {};  // image column w of kernel column j receives output lane
  __mmask16 gather_valid_[max_kernel] = {};
  __mmask32 scatter_valid_[max_kernel] = {};
};

/// Fetches image plane nc + 2 of the block into the cache while plane nc is read: the image is cold (written a
/// whole pass ago; W2's planes are 784 bytes) and each plane is done in about the time of one fetch from memory.
/// (The same for col2im's destination planes, prefetched for writing, made no difference.)
inline void prefetch_plane(const float* image, const ConvGeometry& g, index_t nb, index_t nc) {
  constexpr index_t ahead = 2;
  if (nc + ahead >= nb * g.channels) return;
  const char* next = reinterpret_cast<const char*>(image + (nc + ahead) * g.image_plane());
  for (index_t b = 0; b < g.image_plane() * index_t(sizeof(float)); b += 64) _mm_prefetch(next + b, _MM_HINT_T0);
}
#endif

}  // namespace conv_detail

/// col[(c, i, j), n·L + oh·OW + ow] = image[n, c, oh·sh - ph + i·dh, ow·sw - pw + j·dw] (0 in the padding), for the
/// nb images starting at `image`. col is [C·kh·kw, nb·OH·OW]. The rows are short (OW elements), so the valid range
/// of each row and column is computed once per kernel offset and the copies are plain loops (float rows of at most
/// 32 image and 16 output columns: one permute per row, RowPermutes).
template <class T>
void im2col(const T* image, const ConvGeometry& g, index_t nb, T* col) {
  const index_t L = g.out_plane(), ld = nb * L, KK = g.kernel_h * g.kernel_w, OW = g.out_w, sw = g.stride_w;
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>)
    if (conv_detail::RowPermutes::applies(g)) {
      const conv_detail::RowPermutes rows(g);
      conv_detail::for_each_plane(g, nb, [&](index_t n, index_t c, index_t nc) {
        conv_detail::prefetch_plane(image, g, nb, nc);
        rows.im2col(image + nc * g.image_plane(), g, ld, col + c * KK * ld + n * L);
      });
      return;
    }
#endif
  conv_detail::for_each_plane(g, nb, [&](index_t n, index_t c, index_t nc) {
    const T* plane = image + nc * g.image_plane();
    for (index_t i = 0; i < g.kernel_h; ++i) {
      const index_t off_h = i * g.dilation_h - g.pad_h;
      index_t h_lo, h_hi;
      conv_detail::valid_range(off_h, g.stride_h, g.height, g.out_h, h_lo, h_hi);
      for (index_t j = 0; j < g.kernel_w; ++j) {
        T* dst = col + (c * KK + i * g.kernel_w + j) * ld + n * L;
        const index_t off_w = j * g.dilation_w - g.pad_w;
        index_t w_lo, w_hi;
        conv_detail::valid_range(off_w, sw, g.width, OW, w_lo, w_hi);
        std::fill_n(dst, h_lo * OW, T(0));
        for (index_t oh = h_lo; oh < h_hi; ++oh) {
          T* row = dst + oh * OW;
          const T* src = plane + (oh * g.stride_h + off_h) * g.width + off_w;
          for (index_t ow = 0; ow < w_lo; ++ow) row[ow] = T(0);
          if (sw == 1) std::memcpy(row + w_lo, src + w_lo, static_cast<std::size_t>(w_hi - w_lo) * sizeof(T));
          else
            for (index_t ow = w_lo; ow < w_hi; ++ow) row[ow] = src[ow * sw];
          for (index_t ow = w_hi; ow < OW; ++ow) row[ow] = T(0);
        }
        std::fill_n(dst + h_hi * OW, (g.out_h - h_hi) * OW, T(0));
      }
    }
  });
}

/// The adjoint of im2col: image[n, c, ...] = bias[c] (or 0) + Σ of the col entries im2col would read from there.
template <class T>
void col2im(const T* col, const T* bias, const ConvGeometry& g, index_t nb, T* image) {
  const index_t L = g.out_plane(), ld = nb * L, KK = g.kernel_h * g.kernel_w, OW = g.out_w, sw = g.stride_w;
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>)
    if (conv_detail::RowPermutes::applies(g)) {
      const conv_detail::RowPermutes rows(g);
      conv_detail::for_each_plane(g, nb, [&](index_t n, index_t c, index_t nc) {
        rows.col2im(col + c * KK * ld + n * L, bias ? bias[c] : T(0), g, ld, image + nc * g.image_plane());
      });
      return;
    }
#endif
  conv_detail::for_each_plane(g, nb, [&](index_t n, index_t c, index_t nc) {
    T* plane = image + nc * g.image_plane();
    std::fill_n(plane, g.image_plane(), bias ? bias[c] : T(0));
    for (index_t i = 0; i < g.kernel_h; ++i) {
      const index_t off_h = i * g.dilation_h - g.pad_h;
      index_t h_lo, h_hi;
      conv_detail::valid_range(off_h, g.stride_h, g.height, g.out_h, h_lo, h_hi);
      for (index_t j = 0; j < g.kernel_w; ++j) {
        const T* src = col + (c * KK + i * g.kernel_w + j) * ld + n * L;
        const index_t off_w = j * g.dilation_w - g.pad_w;
        index_t w_lo, w_hi;
        conv_detail::valid_range(off_w, sw, g.width, OW, w_lo, w_hi);
        for (index_t oh = h_lo; oh < h_hi; ++oh) {
          const T* row = src + oh * OW;
          T* dst = plane + (oh * g.stride_h + off_h) * g.width + off_w;
          for (index_t ow = w_lo; ow < w_hi; ++ow) dst[ow * sw] += row[ow];
        }
      }
    }
  });
}

// The three primitives cut the batch into blocks of `block` images; the images of a block become one column matrix
// [C·kh·kw, block·L], so that each block is one GEMM. A block is sized to stay in cache between im2col and the GEMM,
// and each of `slots` workers (threads) takes an equal run of images, block by block, with its own workspace of
// conv_slot_workspace() elements. With one slot, the loop is serial and Eigen's GEMM threads itself instead.

struct ConvSplit {
  index_t block = 1, slots = 1;
};

/// Workspace elements of one slot: the column matrix, the channel-major copy of the columns side (blocks of more
/// than one image) and, for the weight gradient, a partial sum of dw.
inline index_t conv_slot_workspace(const ConvGeometry& g, const ConvSplit& s, bool weight) {
  const index_t buf = s.block > 1 ? s.block * g.out_channels * g.out_plane() : 0;
  return s.block * g.patch() * g.out_plane() + buf + (weight ? g.out_channels * g.patch() : 0);
}

namespace conv_detail {
/// Images per slot: the batch in `slots` equal runs (the last one shorter).
inline index_t slot_images(const ConvGeometry& g, const ConvSplit& s) { return (g.batch + s.slots - 1) / s.slots; }

/// Calls fn(slot, first image, images, first block of the slot) for every block. Slot s takes the s-th of `slots`
/// equal runs of images, in blocks, with its own workspace: equal runs rather than blocks dealt round-robin, so that
/// two threads share W2's 64 images as 32 + 32 (blocks of 5: 5·7 - 3 each) rather than 35 + 30.
template <class Fn>
void for_each_block(const ConvGeometry& g, const ConvSplit& s, Fn&& fn) {
  const index_t per_slot = slot_images(g, s);
  auto run_slot = [&](index_t slot) {
    const index_t end = std::min(g.batch, (slot + 1) * per_slot);
    for (index_t n0 = slot * per_slot; n0 < end; n0 += s.block) fn(slot, n0, std::min(s.block, end - n0), n0 == slot * per_slot);
  };
  if (s.slots <= 1) {
    run_slot(0);
    return;
  }
  parallel_for(0, s.slots, parallel_threshold, run_slot);
}
/// Slots that get images (all but the last ones when the batch is small).
inline index_t busy_slots(const ConvGeometry& g, const ConvSplit& s) {
  const index_t per_slot = slot_images(g, s);
  return per_slot == 0 ? 0 : (g.batch + per_slot - 1) / per_slot;
}

/// The block's part of y = conv2d(image, w) + bias from its columns: Y[K, nb·L] = W · col, through buf (and then
/// into y's batch-major layout) when the block has more than one image. bias [K] or null.
template <class T>
void columns_product(const T* w, const T* col, const T* bias, T* out, T* buf, const ConvGeometry& g, index_t nb) {
  const index_t L = g.out_plane(), K = g.out_channels;
  if (nb == 1) {  // [K, L] is already the tensor's layout
    gemm(false, false, K, L, g.patch(), T(1), w, col, T(0), out);
    if (bias) Array2Map<T>(out, K, L).colwise() += ConstArrayMap<T>(bias, K);
  } else {
    gemm(false, false, K, nb * L, g.patch(), T(1), w, col, T(0), buf);
    to_batch_major(buf, bias, out, nb, K, L);
  }
}
}  // namespace conv_detail

/// y = conv2d(image, w) + bias:  Y[K, nb·L] = W[K, C·kh·kw] · col.   y [N, K, OH, OW]; bias [K] or null.
template <class T>
void conv2d_forward(const T* image, const T* w, const T* bias, T* y, const ConvGeometry& g, const ConvSplit& s, T* workspace) {
  const index_t L = g.out_plane(), K = g.out_channels, per_slot = conv_slot_workspace(g, s, false);
  conv_detail::for_each_block(g, s, [&](index_t slot, index_t n0, index_t nb, bool) {
    T* col = workspace + slot * per_slot;
    im2col(image + n0 * g.channels * g.image_plane(), g, nb, col);
    conv_detail::columns_product(w, col, bias, y + n0 * K * L, col + s.block * g.patch() * L, g, nb);
  });
}

/// image = conv_transpose2d(y, w) + bias, the adjoint of conv2d_forward in the image:
/// col = Wᵀ · Y[K, nb·L], then col2im.   y [N, K, OH, OW]; image [N, C, H, W]; bias [C] or null.
template <class T>
void conv2d_adjoint(const T* y, const T* w, const T* bias, T* image, const ConvGeometry& g, const ConvSplit& s, T* workspace) {
  const index_t L = g.out_plane(), K = g.out_channels, per_slot = conv_slot_workspace(g, s, false);
  conv_detail::for_each_block(g, s, [&](index_t slot, index_t n0, index_t nb, bool) {
    T* col = workspace + slot * per_slot;
    T* buf = col + s.block * g.patch() * L;
    const T* in = y + n0 * K * L;
    if (nb > 1) {
      conv_detail::to_channel_major(in, buf, nb, K, L);
      in = buf;
    }
    gemm(true, false, g.patch(), nb * L, K, T(1), w, in, T(0), col);
    col2im(col, bias, g, nb, image + n0 * g.channels * g.image_plane());
  });
}

/// dw[K, C·kh·kw] = Σ_n gy_n[K, L] · col_nᵀ, the gradient of <gy, conv2d(image, w)> in w. Each slot sums its blocks
/// (slot 0 straight into dw, the others into their workspace), then the partial sums are added. With w and y given,
/// also y = conv2d(image, w) from the same columns (conv_transpose2d's backward needs both of its incoming gradient).
template <class T>
void conv2d_weight(const T* image, const T* gy, T* dw, const ConvGeometry& g, const ConvSplit& s, T* workspace,
                   const T* w = nullptr, T* y = nullptr) {
  const index_t L = g.out_plane(), K = g.out_channels, P = g.patch(), per_slot = conv_slot_workspace(g, s, true);
  // slot's partial sum of dw, after its column matrix and channel-major buffer (conv_slot_workspace)
  const auto partial_sum = [&](index_t slot) {
    return workspace + slot * per_slot + s.block * P * L + (s.block > 1 ? s.block * K * L : 0);
  };
  MatrixMap<T> result(dw, K, P);
  result.setZero();
  conv_detail::for_each_block(g, s, [&](index_t slot, index_t n0, index_t nb, bool first) {
    T* col = workspace + slot * per_slot;
    T* buf = col + s.block * P * L;
    T* partial = slot == 0 ? dw : partial_sum(slot);
    im2col(image + n0 * g.channels * g.image_plane(), g, nb, col);
    const T* in = gy + n0 * K * L;
    if (nb > 1) {
      conv_detail::to_channel_major(in, buf, nb, K, L);
      in = buf;
    }
    gemm(false, true, K, P, nb * L, T(1), in, col, first && slot != 0 ? T(0) : T(1), partial);
    if (y) conv_detail::columns_product(w, col, static_cast<const T*>(nullptr), y + n0 * K * L, buf, g, nb);
  });
  for (index_t slot = 1; slot < conv_detail::busy_slots(g, s); ++slot) result += ConstMatrixMap<T>(partial_sum(slot), K, P);
}

// ---- pooling and upsampling: per plane ([N·C] planes of H x W), parallel over planes -----------------------------

/// Windows of a pooling op on planes [P, H, W] -> [P, OH, OW]; window (oh, ow) covers rows oh·sh - ph + [0, kh)
/// and columns ow·sw - pw + [0, kw), clipped to the plane (padding counts as zeros for sums, is skipped for max).
struct PoolGeometry {
  index_t planes = 0, height = 0, width = 0;
  index_t kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;
  index_t out_h = 0, out_w = 0;
};

namespace conv_detail {
/// Clipped window [h0, h1) x [w0, w1) of output (oh, ow).
struct Window {
  index_t h0, h1, w0, w1;
};
inline Window window(const PoolGeometry& g, index_t oh, index_t ow) {
  const index_t h = oh * g.stride_h - g.pad_h, w = ow * g.stride_w - g.pad_w;
  return {std::max<index_t>(h, 0), std::min(h + g.kernel_h, g.height), std::max<index_t>(w, 0), std::min(w + g.kernel_w, g.width)};
}
}  // namespace conv_detail

/// y[p, oh, ow] = scale · Σ_window x[p, ...]. Average pooling with count_include_pad: scale = 1 / (kh·kw).
template <class T>
void window_sum(const T* x, T* y, const PoolGeometry& g, T scale) {
  parallel_for(0, g.planes, g.planes * g.out_h * g.out_w * g.kernel_h * g.kernel_w, [&](index_t p) {
    const ConstMatrixMap<T> in(x + p * g.height * g.width, g.height, g.width);
    T* out = y + p * g.out_h * g.out_w;
    for (index_t oh = 0; oh < g.out_h; ++oh)
      for (index_t ow = 0; ow < g.out_w; ++ow) {
        const auto win = conv_detail::window(g, oh, ow);
        out[oh * g.out_w + ow] = win.h1 > win.h0 && win.w1 > win.w0 ? scale * in.block(win.h0, win.w0, win.h1 - win.h0, win.w1 - win.w0).sum() : T(0);
      }
  });
}

/// The adjoint of window_sum: x[p, h, w] = scale · Σ over the windows containing (h, w) of y[p, oh, ow]. With
/// kernel = stride, no padding and scale 1 this is nearest-neighbour upsampling.
template <class T>
void window_spread(const T* y, T* x, const PoolGeometry& g, T scale) {
  parallel_for(0, g.planes, g.planes * g.out_h * g.out_w * g.kernel_h * g.kernel_w, [&](index_t p) {
    MatrixMap<T> out(x + p * g.height * g.width, g.height, g.width);
    out.setZero();
    const T* in = y + p * g.out_h * g.out_w;
    for (index_t oh = 0; oh < g.out_h; ++oh)
      for (index_t ow = 0; ow < g.out_w; ++ow) {
        const auto win = conv_detail::window(g, oh, ow);
        if (win.h1 > win.h0 && win.w1 > win.w0) out.block(win.h0, win.w0, win.h1 - win.h0, win.w1 - win.w0).array() += scale * in[oh * g.out_w + ow];
      }
  });
}

/// y = max over each window, index = h·W + w of the first maximum within the plane (PyTorch's choice; a NaN wins
/// and propagates). Used for the gradient (scatter to index) and its adjoint (gather).
template <class T>
void max_pool(const T* x, T* y, std::int64_t* index, const PoolGeometry& g) {
  parallel_for(0, g.planes, g.planes * g.out_h * g.out_w * g.kernel_h * g.kernel_w, [&](index_t p) {
    const T* in = x + p * g.height * g.width;
    T* out = y + p * g.out_h * g.out_w;
    std::int64_t* idx = index + p * g.out_h * g.out_w;
    for (index_t oh = 0; oh < g.out_h; ++oh)
      for (index_t ow = 0; ow < g.out_w; ++ow) {
        const auto win = conv_detail::window(g, oh, ow);
        index_t best = win.h0 * g.width + win.w0;
        T best_value = -std::numeric_limits<T>::infinity();
        for (index_t h = win.h0; h < win.h1; ++h)
          for (index_t w = win.w0; w < win.w1; ++w) {
            const T v = in[h * g.width + w];
            if (v > best_value || std::isnan(v)) {
              best_value = v;
              best = h * g.width + w;
            }
          }
        out[oh * g.out_w + ow] = best_value;
        idx[oh * g.out_w + ow] = best;
      }
  });
}

/// One output coordinate of linear interpolation: it reads inputs i0 and i1 with weights l0 and l1.
template <class T>
struct LinearTap {
  index_t i0, i1;
  T l0, l1;
};

/// PyTorch's source index for bilinear interpolation (ATen/native/UpSample.h): with align_corners the corners of
/// input and output coincide, otherwise pixel centres are aligned ((dst + ½)·in/out - ½, clamped at 0). The scale
/// is computed in T and the source index in double, as ATen does on the CPU.
template <class T>
LinearTap<T> linear_tap(index_t dst, index_t in, index_t out, bool align_corners) {
  if (in == out) return {dst, dst, T(1), T(0)};
  const T scale = align_corners ? (out > 1 ? static_cast<T>(in - 1) / static_cast<T>(out - 1) : T(0)) : static_cast<T>(in) / static_cast<T>(out);
  double src = align_corners ? static_cast<double>(scale) * static_cast<double>(dst)
                             : static_cast<double>(scale) * (static_cast<double>(dst) + 0.5) - 0.5;
  if (src < 0) src = 0;
  const index_t i0 = static_cast<index_t>(src);
  const T l1 = static_cast<T>(src - static_cast<double>(i0));
  return {i0, i0 + (i0 < in - 1 ? 1 : 0), T(1) - l1, l1};
}

/// y[p] = bilinear interpolation of x[p] [H, W] at size [OH, OW].
template <class T>
void bilinear(const T* x, T* y, index_t planes, index_t H, index_t W, index_t OH, index_t OW, bool align_corners) {
  parallel_for(0, planes, planes * OH * OW * 8, [&](index_t p) {
    const T* in = x + p * H * W;
    T* out = y + p * OH * OW;
    for (index_t oh = 0; oh < OH; ++oh) {
      const auto th = linear_tap<T>(oh, H, OH, align_corners);
      const T* r0 = in + th.i0 * W;
      const T* r1 = in + th.i1 * W;
      for (index_t ow = 0; ow < OW; ++ow) {
        const auto tw = linear_tap<T>(ow, W, OW, align_corners);
        out[oh * OW + ow] = th.l0 * (tw.l0 * r0[tw.i0] + tw.l1 * r0[tw.i1]) + th.l1 * (tw.l0 * r1[tw.i0] + tw.l1 * r1[tw.i1]);
      }
    }
  });
}

/// The adjoint of bilinear: gx[p] [H, W] receives each gy[p, oh, ow] split over its four taps.
template <class T>
void bilinear_adjoint(const T* gy, T* gx, index_t planes, index_t H, index_t W, index_t OH, index_t OW, bool align_corners) {
  parallel_for(0, planes, planes * OH * OW * 8, [&](index_t p) {
    const T* in = gy + p * OH * OW;
    T* out = gx + p * H * W;
    std::fill_n(out, H * W, T(0));
    for (index_t oh = 0; oh < OH; ++oh) {
      const auto th = linear_tap<T>(oh, H, OH, align_corners);
      T* r0 = out + th.i0 * W;
      T* r1 = out + th.i1 * W;
      for (index_t ow = 0; ow < OW; ++ow) {
        const auto tw = linear_tap<T>(ow, W, OW, align_corners);
        const T v = in[oh * OW + ow];
        r0[tw.i0] += th.l0 * tw.l0 * v;
        r0[tw.i1] += th.l0 * tw.l1 * v;
        r1[tw.i0] += th.l1 * tw.l0 * v;
        r1[tw.i1] += th.l1 * tw.l1 * v;
      }
    }
  });
}

}  // namespace latent::kernels
