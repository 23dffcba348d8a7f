#pragma once
// What a layer does to a per-row shift c(h)*1 of its input, for the fold analysis (METHOD.md §3).

namespace lnfold {

enum class fold_role {
    source,           // a linear map whose output can be centred by editing its weights (Linear, Conv2d groups=1,
                      // Embedding, SelfAttention through its output projection)
    additive_source,  // passes its input through and adds a learned constant that can be centred
                      // (PositionEmbedding, ClassToken)
    preserve,         // a zero-mean input gives a zero-mean output (Dropout at inference, pooling over tokens)
    breaker,          // nonlinear or per-channel: the output mean is not controlled (activations, grouped conv)
    scale,            // a per-channel scale: folded into the preceding source, otherwise a breaker (LayerScale)
    centering,        // x - mean(x): zero-mean output whatever the input
    layer_norm,       // shift-invariant consumer; the candidate for folding
    rms_norm,         // an RMSNorm: not shift-invariant; its affine output is a breaker
};

}  // namespace lnfold
