#pragma once
// All of lnfold's row kernels (namespace lnfold::kernels): LayerNorm, RMSNorm, fused add + norm, backward,
// elementwise activations, softmax.
#include "lnfold/kernels/activations.hpp"
#include "lnfold/kernels/add_norm.hpp"
#include "lnfold/kernels/arch.hpp"
#include "lnfold/kernels/layer_norm.hpp"
#include "lnfold/kernels/norm_backward.hpp"
#include "lnfold/kernels/reduce.hpp"
#include "lnfold/kernels/rms_norm.hpp"
#include "lnfold/kernels/softmax.hpp"
#include "lnfold/kernels/streaming.hpp"
