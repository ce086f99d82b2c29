// Losses fused with their softmax / sigmoid, forward and backward. Layouts are
// contiguous; the per-element loss is written unreduced (the engine reduces).
#pragma once

#include <cstdint>

namespace strata::cpu {

// Cross-entropy from logits over D of an (outer, D, inner) tensor; targets
// (outer, inner) hold class indices in [0, D) or ignore_index. Per position p:
//   weight[p] = class_weight[t] (1 without class weights), 0 where t is ignored,
//   loss[p]   = weight[p] * (logsumexp_d x[d, p] - x[t, p]),
//   lse[p]    = logsumexp_d x[d, p], kept for the backward pass.
template <class T>
void cross_entropy_forward(const T* x, const int64_t* target, const T* class_weight, int64_t outer, int64_t D,
                           int64_t inner, int64_t ignore_index, T* loss, T* weight, T* lse);
// gx[d, p] = gloss[p] * weight[p] * (softmax(x)[d, p] - [d == t]).
template <class T>
void cross_entropy_backward(const T* x, const int64_t* target, const T* class_weight, int64_t outer, int64_t D,
                            int64_t inner, int64_t ignore_index, const T* lse, const T* gloss, T* gx);

// Binary cross-entropy from logits over n elements; weight and pos_weight are
// full-size or null. loss = w * ((1 - t) x + (1 + (pw - 1) t) softplus(-x)).
template <class T>
void bce_with_logits_forward(const T* x, const T* target, const T* weight, const T* pos_weight, int64_t n, T* loss);
// gx = gloss * w * ((1 - t) - (1 + (pw - 1) t) sigmoid(-x)).
template <class T>
void bce_with_logits_backward(const T* x, const T* target, const T* weight, const T* pos_weight, const T* gloss,
                              int64_t n, T* gx);

}  // namespace strata::cpu
