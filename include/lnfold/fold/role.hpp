#pragma once
// What a layer does to a per-row shift c(h)*1 of its input, for the fold analysis (docs/method.md §3).

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

// How fold() treats an output head tied to an embedding table (GPT-2's lm_head = wte), see TiedHead.
enum class tie_fold {
    untie,    // fold gives the head its own copy of the uncentred table (exact; one more V x D matrix)
    correct,  // keep the tie: the head reads the centred table and adds the rank-1 correction (sum h) * mean(e_v)
    keep,     // no handling: the head reads the table's parameters, so the table cannot be centred
};

}  // namespace lnfold
