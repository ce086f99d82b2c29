// matmul (NumPy semantics, batched, on the backend's GEMM) and softmax /
// log-softmax over one axis.
#include "engine/op_util.h"

namespace strata {

using namespace detail;

namespace {

// How a (rows x cols) matrix with strides (sr, sc) maps to the row-major GEMM
// convention: as stored (ld = sr), as a transpose (ld = sc), or not at all.
struct MatrixLayout {
  bool ok = false, trans = false;
  int64_t ld = 0;
};

MatrixLayout matrix_layout(int64_t rows, int64_t cols, int64_t sr, int64_t sc) {
  if ((cols == 1 || sc == 1) && (rows == 1 || sr >= std::max<int64_t>(cols, 1)))
    return {true, false, rows == 1 ? std::max<int64_t>(cols, 1) : sr};
  if ((rows == 1 || sr == 1) && (cols == 1 || sc >= std::max<int64_t>(rows, 1)))
    return {true, true, cols == 1 ? std::max<int64_t>(rows, 1) : sc};
  return {};
}

// An operand of the batched GEMM: batch dims flattened to one stride.
struct GemmOperand {
  Tensor keep;  // owns the data (a copy when x's strides could not be used)
  MatrixLayout layout;
  int64_t batch_stride = 0;
};

GemmOperand gemm_operand(const Tensor& x, const Shape& batch) {
  const int64_t r = x.shape()[x.dim() - 2], c = x.shape()[x.dim() - 1];
  Shape full = batch;
  full.push_back(r);
  full.push_back(c);
  for (int attempt = 0; attempt < 2; ++attempt) {
    // First try x's own strides; else materialise the broadcast operand.
    const Tensor e = attempt == 0 ? raw_expand(x, full) : raw_expand(x, full).contiguous();
    const MatrixLayout layout = matrix_layout(r, c, e.strides()[e.dim() - 2], e.strides()[e.dim() - 1]);
    // The batch dims must collapse to a single stride.
    int64_t stride = 0;
    bool uniform = true;
    for (int64_t i = int64_t(batch.size()) - 1, expected = -1; i >= 0; --i) {
      if (batch[i] == 1) continue;
      if (expected < 0) {
        stride = e.strides()[i];
        expected = stride * batch[i];
      } else if (e.strides()[i] != expected) {
        uniform = false;
      } else {
        expected *= batch[i];
      }
    }
    if (layout.ok && uniform) return {e, layout, stride};
  }
  STRATA_FAIL("matmul: internal error, no GEMM layout for shape ", shape_str(x.shape()));
}

// a: (..., M, K), b: (..., K, N), both at least 2-D.
Tensor matmul_nd(const Tensor& a, const Tensor& b) {
  const int64_t M = a.shape()[a.dim() - 2], K = a.shape()[a.dim() - 1];
  const int64_t K2 = b.shape()[b.dim() - 2], N = b.shape()[b.dim() - 1];
  STRATA_CHECK(K == K2, "matmul: shapes ", shape_str(a.shape()), " and ", shape_str(b.shape()),
               " cannot be multiplied (", K, " vs ", K2, ")");
  const Shape batch = broadcast_shapes(Shape(a.shape().begin(), a.shape().end() - 2),
                                       Shape(b.shape().begin(), b.shape().end() - 2), "matmul");
  const GemmOperand ga = gemm_operand(a, batch), gb = gemm_operand(b, batch);
  Shape out_shape = batch;
  out_shape.push_back(M);
  out_shape.push_back(N);
  Tensor out = make_tensor(out_shape, a.dtype(), a.device());
  backend_for(a.device()).gemm_batched(a.dtype(), shape_numel(batch), ga.layout.trans, gb.layout.trans, M, N, K,
                                       ga.keep.raw_data(), ga.layout.ld, ga.batch_stride, gb.keep.raw_data(),
                                       gb.layout.ld, gb.batch_stride, out.raw_data(), N, M * N);
  return record("matmul", out, {a, b},
                [sa = Saved(a), sb = Saved(b), na = a.requires_grad(), nb = b.requires_grad()](const Tensor& g) -> Grads {
                  const Tensor &x = sa.get(), &y = sb.get();
                  Tensor gx, gy;
                  if (na) gx = sum_to(matmul_nd(g, y.transpose(-1, -2)), x.shape());
                  if (nb) gy = sum_to(matmul_nd(x.transpose(-1, -2), g), y.shape());
                  return {gx, gy};
                });
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  check_same_device("matmul", a, b);
  check_same_dtype("matmul", a, b);
  check_floating("matmul", a);
  STRATA_CHECK(a.dim() >= 1 && b.dim() >= 1, "matmul: operands must be at least 1-D, got shapes ",
               shape_str(a.shape()), " and ", shape_str(b.shape()));
  const Tensor a2 = a.dim() == 1 ? a.unsqueeze(0) : a;
  const Tensor b2 = b.dim() == 1 ? b.unsqueeze(1) : b;
  Tensor out = matmul_nd(a2, b2);
  if (b.dim() == 1) out = out.squeeze(-1);
  if (a.dim() == 1) out = out.squeeze(out.dim() == 1 ? 0 : -2);
  return out;
}

namespace {
Tensor softmax_forward(const Tensor& x, int64_t d, bool log) {
  const Tensor xc = x.contiguous();
  const AxisSplit s = split_at(x.shape(), d);
  Tensor y = make_tensor(x.shape(), x.dtype(), x.device());
  backend_for(x.device()).softmax(x.dtype(), xc.raw_data(), y.raw_data(), s.outer, s.D, s.inner, log);
  return y;
}
}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) {
  check_floating("softmax", x);
  const int64_t d = wrap_dim(dim, x.dim(), "softmax");
  Tensor y = softmax_forward(x, d, false);
  if (tracing()) trace_attrs("softmax", {{{"axis", {d}}}, {}, {}});
  return record("softmax", y, {x}, [sy = Saved(y), d](const Tensor& g) -> Grads {
    const Tensor& p = sy.get();
    return {mul(p, sub(g, sum(mul(g, p), {d}, true)))};
  });
}

Tensor log_softmax(const Tensor& x, int64_t dim) {
  check_floating("log_softmax", x);
  const int64_t d = wrap_dim(dim, x.dim(), "log_softmax");
  Tensor y = softmax_forward(x, d, true);
  if (tracing()) trace_attrs("log_softmax", {{{"axis", {d}}}, {}, {}});
  return record("log_softmax", y, {x}, [sy = Saved(y), d](const Tensor& g) -> Grads {
    return {sub(g, mul(exp(sy.get()), sum(g, {d}, true)))};
  });
}

}  // namespace strata
