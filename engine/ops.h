// The differentiable operations of the engine. Every function here works on
// any device with a backend, records its backward rule when grad mode is on,
// and checks its arguments, naming the op and the offending shapes, dtypes or
// devices in the error.
//
// Type rules: binary ops need equal dtypes (no implicit promotion); a double
// scalar operand takes the tensor's dtype. Shapes broadcast as in NumPy.
// Comparisons return u8 (0 / 1). Integer tensors support arithmetic but not
// exp/log/sqrt/pow/div and cannot require grad.
#pragma once

#include <vector>

#include "engine/tensor.h"

namespace strata {

// ---- elementwise --------------------------------------------------------
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, const Tensor& b);
Tensor maximum(const Tensor& a, const Tensor& b);  // gradient to the larger input (a on ties)
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, double b);
Tensor sub(const Tensor& a, double b);
Tensor sub(double a, const Tensor& b);
Tensor mul(const Tensor& a, double b);
Tensor div(const Tensor& a, double b);
Tensor div(double a, const Tensor& b);
Tensor pow(const Tensor& a, double exponent);

Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor abs(const Tensor& x);   // gradient sign(x), 0 at 0
Tensor sign(const Tensor& x);  // not differentiable (zero gradient)
Tensor clamp(const Tensor& x, double lo, double hi);  // gradient 1 inside [lo, hi], 0 outside
Tensor relu_mask(const Tensor& x);  // 1 where x > 0 else 0, not differentiable

Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
Tensor eq(const Tensor& a, double b);
Tensor ne(const Tensor& a, double b);
Tensor lt(const Tensor& a, double b);
Tensor le(const Tensor& a, double b);
Tensor gt(const Tensor& a, double b);
Tensor ge(const Tensor& a, double b);
// cond (u8) ? a : b, all three broadcast together.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& x);
Tensor operator+(const Tensor& a, double b);
Tensor operator-(const Tensor& a, double b);
Tensor operator*(const Tensor& a, double b);
Tensor operator/(const Tensor& a, double b);
Tensor operator*(double a, const Tensor& b);

// ---- reductions (dims may be negative; empty dims = all) -----------------
// Sums of integer tensors are i64.
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
// Variance with Bessel's correction `correction` (1 = unbiased, 0 = population).
Tensor var(const Tensor& x, const std::vector<int64_t>& dims = {}, int64_t correction = 1, bool keepdim = false);
// Largest value over one dim (gradient to the first maximum) or over all.
Tensor max(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor max(const Tensor& x);
Tensor min(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor min(const Tensor& x);
// Index (i64) of the first maximum along dim, or in the flattened tensor.
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor argmax(const Tensor& x);
Tensor argmin(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor argmin(const Tensor& x);
// Sums x down to `shape` (the reverse of broadcasting `shape` to x.shape()).
Tensor sum_to(const Tensor& x, const Shape& shape);

// ---- linear algebra ----------------------------------------------------
// NumPy matmul: 1-D operands are promoted and squeezed; batch dims broadcast.
Tensor matmul(const Tensor& a, const Tensor& b);

// ---- normalisation -------------------------------------------------------
Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);

// ---- joining, splitting, indexing --------------------------------------
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim);
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim);
// Pieces of `split_size` along dim (the last may be smaller); views of x.
std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim);
std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim);
// out[..., i, ...] = x[..., index[..., i, ...], ...] along dim; index (i32/i64)
// has x's shape except along dim.
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
// The entries of x at positions `index` (1-D, i32/i64) along dim.
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
// Appends a class axis of size num_classes: out[..., c] = (index[...] == c).
Tensor one_hot(const Tensor& index, int64_t num_classes, DType dtype = DType::i64);

// ---- missing values (NaN) ---------------------------------------------------
// 1 (u8) where x is NaN. Traced (ONNX IsNaN), as the comparisons are, for an exported graph's where().
Tensor is_nan(const Tensor& x);
// Each NaN run along the last axis filled linearly between the values on either side; a run at either end takes
// the nearest value; a row of NaN alone stays NaN. Not differentiable; traced as one op (ONNX CumSum, TopK and
// GatherElements find each sample's neighbours at run time).
Tensor fill_gaps(const Tensor& x);
void fill_gaps(double* v, int64_t n);  // the same on one row
// The mean and population standard deviation (the last axis becomes these 2) of each row's non-NaN values along
// the last axis, without the trimmed_count(k, fraction) lowest and as many highest of its k; NaN where none is
// left. Not differentiable; traced as one op (ONNX TopK over the row, the kept ranks masked).
Tensor nan_trimmed_stats(const Tensor& x, double fraction);
// The same on one row of n, with the number of its non-NaN values.
struct RowStats {
  double mean, sd;
  int64_t values;
};
RowStats nan_trimmed_stats(const double* row, int64_t n, double fraction);
// How many values trimming `fraction` (0 <= fraction < 0.5, in millionths) cuts from each end of n: in integers,
// n * round(fraction * 1e6) / 1e6 rounded down, so that every implementation agrees at exact multiples.
inline int64_t trim_per_million(double fraction) { return int64_t(fraction * 1e6 + 0.5); }
inline int64_t trimmed_count(int64_t n, double fraction) { return n * trim_per_million(fraction) / 1000000; }

// ---- sliding windows along the last axis ---------------------------------------
// Start positions of windows of `window` samples every `stride` that cover a length (the last one ends at the
// end); a length no longer than the window gives one window at 0.
std::vector<int64_t> window_starts(int64_t length, int64_t window, int64_t stride);
// (N, C, L) -> (N * nw, C, min(window, L)): the windows of window_starts(L, window, stride), those of one input
// consecutive. Not differentiable; traced as one op (ONNX Range, Gather), so a graph windows any length.
Tensor sliding_windows(const Tensor& x, int64_t window, int64_t stride);
// The inverse: windows' values (N * nw, K, W), from sliding_windows of `like` (N, C, L), back to (N, K, L), averaged
// where windows overlap, each weighted by a triangle (min(j + 1, W - j): a window's edges count least). Traced as
// one op (ONNX ScatterElements with add).
Tensor overlap_add(const Tensor& windows, const Tensor& like, int64_t window, int64_t stride);

// ---- views (also available as Tensor members) ---------------------------
Tensor view(const Tensor& x, const Shape& shape);
Tensor reshape(const Tensor& x, const Shape& shape);
Tensor permute(const Tensor& x, const std::vector<int64_t>& dims);
Tensor transpose(const Tensor& x, int64_t d0, int64_t d1);
Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step = 1);
Tensor flip(const Tensor& x, int64_t dim);  // the order along dim reversed (a copy)
// Zeros appended to every axis after the first two (N, C, ...) up to a multiple of `multiple`. Traced as one op,
// so an exported graph computes the padding from its input's size at run time.
Tensor pad_to_multiple(const Tensor& x, int64_t multiple);
// The leading part of every axis of y after the first two, as long as `like`'s (undone padding). An exported
// graph reads the sizes from `like` at run time.
Tensor crop_like(const Tensor& y, const Tensor& like);
Tensor expand(const Tensor& x, const Shape& shape);
Tensor unsqueeze(const Tensor& x, int64_t dim);
Tensor squeeze(const Tensor& x, int64_t dim);
Tensor contiguous(const Tensor& x);
// A differentiable copy into fresh contiguous storage.
Tensor clone(const Tensor& x);
// A differentiable conversion (gradient converted back); between float types only when recording.
Tensor to_dtype(const Tensor& x, DType dtype);
Tensor to_device(const Tensor& x, Device device);

// Shape of broadcasting a and b together; error names `op` and both shapes.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

}  // namespace strata
