#pragma once
// All of lnfold's kernels (namespace lnfold::kernels): LayerNorm, RMSNorm, fused add + norm, norm backward,
// residual add, elementwise activations, softmax. The matrix products (kernels/gemm.hpp) are included on their
// own: they bring the BLAS backends' headers.
#include "lnfold/kernels/activations.hpp"
#include "lnfold/kernels/add_norm.hpp"
#include "lnfold/kernels/arch.hpp"
#include "lnfold/kernels/layer_norm.hpp"
#include "lnfold/kernels/norm_backward.hpp"
#include "lnfold/kernels/reduce.hpp"
#include "lnfold/kernels/residual_add.hpp"
#include "lnfold/kernels/rms_norm.hpp"
#include "lnfold/kernels/softmax.hpp"
#include "lnfold/kernels/streaming.hpp"
