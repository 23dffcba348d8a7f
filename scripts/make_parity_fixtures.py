#!/usr/bin/python3
"""Writes the PyTorch parity fixtures of tests/models/fixtures/ with Debian's torch 1.13 (run with /usr/bin/python3).

Small randomly initialised GPT-2 and ViT models, written in plain torch with exactly Hugging Face's conventions
(transformers' modeling_gpt2.py / modeling_vit.py; no transformers or safetensors package is needed):

  GPT-2: Conv1D layers (weight stored (in, out), y = x W + b), c_attn output split into q | k | v, heads at columns
         h * head_dim, scores / sqrt(head_dim), causal mask from the attn.bias buffer, softmax, gelu_new (tanh),
         LayerNorm eps 1e-5, lm_head tied to wte (logits = ln_f(x) wte^T).
  ViT:   Conv2d patch projection (kernel = stride = patch), [CLS] token prepended, position embeddings added,
         separate query / key / value Linears, scores / sqrt(head_dim), GELU (erf), LayerNorm eps 1e-12, classifier
         on token 0 after the final layernorm.

Every weight, bias and norm gamma / beta is random (norm gammas in [0.5, 1.5], betas and biases in [-0.5, 0.5],
embedding tables with a nonzero mean per row), so LayerNorm inputs are far from zero-mean and folding is not
trivial. Parameters are rounded to float32 and the models run in float64, so the stored F32 weights reproduce the
F64 outputs exactly up to float64 rounding.

Files (all small; the script is deterministic: rerunning it gives the same bytes on the same torch version):
  gpt2.safetensors          the hub's layout: no prefix, F32 attn.bias mask buffers (1, 1, T, T), no lm_head.weight
  gpt2_lm_head.safetensors  GPT2LMHeadModel.save_pretrained's layout: "transformer." prefix, BOOL attn.bias and F32
                            attn.masked_bias buffers, lm_head.weight (equal to wte.weight); the same weights
  gpt2_io.safetensors       input_ids I64 (2, 16), logits F64 (2, 16, V), last_hidden_state F64 (2, 16, D) after ln_f,
                            targets I64 (2, 16), loss F64 () = mean cross-entropy of logits against targets
  gpt2_grad.safetensors     dloss/dtheta F64 under gpt2.safetensors' names and layouts (wte: embedding + tied head)
  vit.safetensors           ViTForImageClassification's layout: "vit." prefix, classifier.* outside it
  vit_io.safetensors        pixel_values F32 (2, 3, 16, 16) NCHW, logits F64 (2, classes), last_hidden_state F64
                            (2, 17, D) after the final layernorm, labels I64 (2), loss F64 () (mean cross-entropy),
                            pixel_values_grad F64 (2, 3, 16, 16) = dloss/dpixels, NCHW
  vit_grad.safetensors      dloss/dtheta F64 under vit.safetensors' names and layouts
  mlp.safetensors           torch.nn.Sequential(Linear(7, 12), LayerNorm(12), GELU, Linear(12, 12), LayerNorm(12),
                            GELU, Linear(12, 5)): names 0.weight ... 6.bias, lnfold's Seq paths
  mlp_io.safetensors        input F32 (9, 7), logits F64 (9, 5), targets I64 (9), loss F64 (), input_grad F64 (9, 7)
  mlp_grad.safetensors      dloss/dtheta F64 under mlp.safetensors' names

Gradients are those of the float64 model (loss.backward()), the reference for lnfold's backward in double and float.

Usage: /usr/bin/python3 scripts/make_parity_fixtures.py [output_dir]   (default: tests/models/fixtures)
"""
import json
import math
import os
import sys

import torch

from safetensors_writer import write_safetensors

# Sizes: small, odd where possible, heads of width 6. lnfold-fold's configuration table has these two.
GPT2 = dict(layers=2, dim=24, heads=4, vocab=61, context=16)
VIT = dict(layers=2, dim=24, heads=4, mlp=40, image=16, patch=4, channels=3, classes=10)
MLP = dict(inputs=7, hidden=12, classes=5, batch=9)

class Conv1D(torch.nn.Module):
    """transformers.pytorch_utils.Conv1D: weight (nx, nf) = (in, out); y = x W + b."""

    def __init__(self, nf, nx):
        super().__init__()
        self.nf = nf
        self.weight = torch.nn.Parameter(torch.empty(nx, nf))
        self.bias = torch.nn.Parameter(torch.zeros(nf))

    def forward(self, x):
        out = torch.addmm(self.bias, x.reshape(-1, x.size(-1)), self.weight)
        return out.view(x.size()[:-1] + (self.nf,))


def gelu_new(x):
    """transformers.activations.NewGELUActivation."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class GPT2Attention(torch.nn.Module):
    def __init__(self, dim, heads, context):
        super().__init__()
        self.dim, self.heads, self.head_dim = dim, heads, dim // heads
        self.register_buffer("bias", torch.tril(torch.ones(context, context, dtype=torch.bool)).view(1, 1, context, context))
        self.register_buffer("masked_bias", torch.tensor(-1e4))
        self.c_attn = Conv1D(3 * dim, dim)
        self.c_proj = Conv1D(dim, dim)

    def split_heads(self, x):  # (B, T, D) -> (B, H, T, hd): head h at columns h * hd
        return x.view(x.size()[:-1] + (self.heads, self.head_dim)).permute(0, 2, 1, 3)

    def forward(self, x):
        query, key, value = self.c_attn(x).split(self.dim, dim=2)
        query, key, value = self.split_heads(query), self.split_heads(key), self.split_heads(value)
        weights = torch.matmul(query, key.transpose(-1, -2)) / torch.full([], value.size(-1) ** 0.5, dtype=x.dtype)
        t = query.size(-2)
        causal = self.bias[:, :, :t, :t]
        weights = torch.where(causal, weights, torch.tensor(torch.finfo(weights.dtype).min, dtype=weights.dtype))
        weights = torch.softmax(weights, dim=-1)
        out = torch.matmul(weights, value).permute(0, 2, 1, 3).contiguous()
        return self.c_proj(out.view(out.size()[:-2] + (self.dim,)))


class GPT2MLP(torch.nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.c_fc = Conv1D(4 * dim, dim)
        self.c_proj = Conv1D(dim, 4 * dim)

    def forward(self, x):
        return self.c_proj(gelu_new(self.c_fc(x)))


class GPT2Block(torch.nn.Module):
    def __init__(self, dim, heads, context):
        super().__init__()
        self.ln_1 = torch.nn.LayerNorm(dim, eps=1e-5)
        self.attn = GPT2Attention(dim, heads, context)
        self.ln_2 = torch.nn.LayerNorm(dim, eps=1e-5)
        self.mlp = GPT2MLP(dim)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT2Model(torch.nn.Module):
    def __init__(self, layers, dim, heads, vocab, context):
        super().__init__()
        self.wte = torch.nn.Embedding(vocab, dim)
        self.wpe = torch.nn.Embedding(context, dim)
        self.h = torch.nn.ModuleList([GPT2Block(dim, heads, context) for _ in range(layers)])
        self.ln_f = torch.nn.LayerNorm(dim, eps=1e-5)

    def forward(self, ids):
        positions = torch.arange(ids.size(1)).unsqueeze(0)
        x = self.wte(ids) + self.wpe(positions)
        for block in self.h:
            x = block(x)
        hidden = self.ln_f(x)
        return hidden, hidden @ self.wte.weight.t()  # lm_head tied to wte


class ViTSelfAttention(torch.nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.query = torch.nn.Linear(dim, dim)
        self.key = torch.nn.Linear(dim, dim)
        self.value = torch.nn.Linear(dim, dim)

    def transpose_for_scores(self, x):
        return x.view(x.size()[:-1] + (self.heads, self.head_dim)).permute(0, 2, 1, 3)

    def forward(self, x):
        q = self.transpose_for_scores(self.query(x))
        k = self.transpose_for_scores(self.key(x))
        v = self.transpose_for_scores(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim)
        context = torch.matmul(torch.softmax(scores, dim=-1), v).permute(0, 2, 1, 3).contiguous()
        return context.view(context.size()[:-2] + (self.heads * self.head_dim,))


class ViTAttention(torch.nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.attention = ViTSelfAttention(dim, heads)
        self.output = torch.nn.Module()
        self.output.dense = torch.nn.Linear(dim, dim)

    def forward(self, x):
        return self.output.dense(self.attention(x))


class ViTLayer(torch.nn.Module):
    def __init__(self, dim, heads, mlp):
        super().__init__()
        self.layernorm_before = torch.nn.LayerNorm(dim, eps=1e-12)
        self.attention = ViTAttention(dim, heads)
        self.layernorm_after = torch.nn.LayerNorm(dim, eps=1e-12)
        self.intermediate = torch.nn.Module()
        self.intermediate.dense = torch.nn.Linear(dim, mlp)
        self.output = torch.nn.Module()
        self.output.dense = torch.nn.Linear(mlp, dim)

    def forward(self, x):
        x = self.attention(self.layernorm_before(x)) + x
        y = torch.nn.functional.gelu(self.intermediate.dense(self.layernorm_after(x)))  # erf GELU
        return self.output.dense(y) + x


class ViTForImageClassification(torch.nn.Module):
    def __init__(self, layers, dim, heads, mlp, image, patch, channels, classes):
        super().__init__()
        tokens = (image // patch) ** 2 + 1
        self.vit = torch.nn.Module()
        self.vit.embeddings = torch.nn.Module()
        self.vit.embeddings.cls_token = torch.nn.Parameter(torch.empty(1, 1, dim))
        self.vit.embeddings.position_embeddings = torch.nn.Parameter(torch.empty(1, tokens, dim))
        self.vit.embeddings.patch_embeddings = torch.nn.Module()
        self.vit.embeddings.patch_embeddings.projection = torch.nn.Conv2d(channels, dim, kernel_size=patch, stride=patch)
        self.vit.encoder = torch.nn.Module()
        self.vit.encoder.layer = torch.nn.ModuleList([ViTLayer(dim, heads, mlp) for _ in range(layers)])
        self.vit.layernorm = torch.nn.LayerNorm(dim, eps=1e-12)
        self.classifier = torch.nn.Linear(dim, classes)

    def forward(self, pixels):
        e = self.vit.embeddings
        x = e.patch_embeddings.projection(pixels).flatten(2).transpose(1, 2)  # (B, patches, D), row-major grid
        x = torch.cat([e.cls_token.expand(x.size(0), -1, -1), x], dim=1) + e.position_embeddings
        for layer in self.vit.encoder.layer:
            x = layer(x)
        hidden = self.vit.layernorm(x)
        return hidden, self.classifier(hidden[:, 0, :])


def randomise(model, generator):
    """Random, non-trivial parameters, rounded to float32 (the fixtures store F32 weights), module by module."""
    def uniform(p, low, high):
        p.copy_(torch.rand(p.shape, generator=generator, dtype=p.dtype) * (high - low) + low)

    def scaled_normal(p, fan_in):
        p.copy_(torch.randn(p.shape, generator=generator, dtype=p.dtype) / math.sqrt(fan_in))

    def table(p):  # embedding rows, the position table, the class token: each vector with a nonzero mean
        rows = p.view(-1, p.shape[-1])
        rows.copy_(0.5 * torch.randn(rows.shape, generator=generator, dtype=p.dtype) +
                   torch.rand(rows.shape[0], 1, generator=generator, dtype=p.dtype) - 0.5)

    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.LayerNorm):
                uniform(module.weight, 0.5, 1.5)
                uniform(module.bias, -0.5, 0.5)
            elif isinstance(module, Conv1D):  # weight (in, out)
                scaled_normal(module.weight, module.weight.shape[0])
                uniform(module.bias, -0.5, 0.5)
            elif isinstance(module, (torch.nn.Linear, torch.nn.Conv2d)):  # weight (out, in, ...)
                scaled_normal(module.weight, module.weight[0].numel())
                uniform(module.bias, -0.5, 0.5)
            elif isinstance(module, torch.nn.Embedding):
                table(module.weight)
            else:
                for p in module.parameters(recurse=False):  # cls_token, position_embeddings
                    table(p)
        for p in model.parameters():
            p.copy_(p.float().double())


def gradients(model):
    """dL/dtheta in float64 under the parameter names of the weights file (same layout: Conv1D stays (in, out))."""
    return [(name, p.grad.detach()) for name, p in model.named_parameters()]


def gpt2_fixtures(out):
    generator = torch.Generator().manual_seed(2019)
    model = GPT2Model(**GPT2).double()
    randomise(model, generator)
    ids = torch.randint(0, GPT2["vocab"], (2, GPT2["context"]), generator=generator)
    targets = torch.randint(0, GPT2["vocab"], (2, GPT2["context"]), generator=generator)
    hidden, logits = model(ids)
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, GPT2["vocab"]), targets.reshape(-1))
    loss.backward()

    def weights(prefix, mask_dtype):
        tensors = []
        for name, p in model.state_dict().items():
            if name.endswith(".attn.bias"):  # the mask buffer (not c_attn.bias)
                tensors.append((prefix + name, p.to(mask_dtype)))
            elif name.endswith(".attn.masked_bias"):
                if mask_dtype == torch.bool:  # the newer layout also has the masked_bias scalar
                    tensors.append((prefix + name, p.float()))
            else:
                tensors.append((prefix + name, p.float()))
        return tensors

    meta = {"format": "pt", "generator": "scripts/make_parity_fixtures.py", "torch": torch.__version__,
            "config": json.dumps(GPT2, sort_keys=True)}
    write_safetensors(os.path.join(out, "gpt2.safetensors"), weights("", torch.float32), meta)
    lm_head = weights("transformer.", torch.bool) + [("lm_head.weight", model.wte.weight.detach().float())]
    write_safetensors(os.path.join(out, "gpt2_lm_head.safetensors"), lm_head, meta)
    write_safetensors(os.path.join(out, "gpt2_io.safetensors"),
                      [("input_ids", ids), ("logits", logits.detach()), ("last_hidden_state", hidden.detach()),
                       ("targets", targets), ("loss", loss.detach())], meta)
    write_safetensors(os.path.join(out, "gpt2_grad.safetensors"), gradients(model), meta)


def vit_fixtures(out):
    generator = torch.Generator().manual_seed(2021)
    model = ViTForImageClassification(**VIT).double()
    randomise(model, generator)
    pixels = (torch.rand(2, VIT["channels"], VIT["image"], VIT["image"], generator=generator) * 2 - 1).float()
    labels = torch.randint(0, VIT["classes"], (2,), generator=generator)
    pixels64 = pixels.double().requires_grad_()
    hidden, logits = model(pixels64)
    loss = torch.nn.functional.cross_entropy(logits, labels)
    loss.backward()
    meta = {"format": "pt", "generator": "scripts/make_parity_fixtures.py", "torch": torch.__version__,
            "config": json.dumps(VIT, sort_keys=True)}
    write_safetensors(os.path.join(out, "vit.safetensors"),
                      [(name, p.float()) for name, p in model.state_dict().items()], meta)
    write_safetensors(os.path.join(out, "vit_io.safetensors"),
                      [("pixel_values", pixels), ("logits", logits.detach()), ("last_hidden_state", hidden.detach()),
                       ("labels", labels), ("loss", loss.detach()), ("pixel_values_grad", pixels64.grad)], meta)
    write_safetensors(os.path.join(out, "vit_grad.safetensors"), gradients(model), meta)


def mlp_fixtures(out):
    generator = torch.Generator().manual_seed(2024)
    model = torch.nn.Sequential(torch.nn.Linear(MLP["inputs"], MLP["hidden"]), torch.nn.LayerNorm(MLP["hidden"]),
                                torch.nn.GELU(), torch.nn.Linear(MLP["hidden"], MLP["hidden"]),
                                torch.nn.LayerNorm(MLP["hidden"]), torch.nn.GELU(),
                                torch.nn.Linear(MLP["hidden"], MLP["classes"])).double()
    randomise(model, generator)
    x = (torch.randn(MLP["batch"], MLP["inputs"], generator=generator) + 0.5).float()  # rows far from zero-mean
    targets = torch.randint(0, MLP["classes"], (MLP["batch"],), generator=generator)
    x64 = x.double().requires_grad_()
    logits = model(x64)
    loss = torch.nn.functional.cross_entropy(logits, targets)
    loss.backward()
    meta = {"format": "pt", "generator": "scripts/make_parity_fixtures.py", "torch": torch.__version__,
            "config": json.dumps(MLP, sort_keys=True)}
    write_safetensors(os.path.join(out, "mlp.safetensors"),
                      [(name, p.float()) for name, p in model.state_dict().items()], meta)
    write_safetensors(os.path.join(out, "mlp_io.safetensors"),
                      [("input", x), ("logits", logits.detach()), ("targets", targets), ("loss", loss.detach()),
                       ("input_grad", x64.grad)], meta)
    write_safetensors(os.path.join(out, "mlp_grad.safetensors"), gradients(model), meta)


if __name__ == "__main__":
    torch.use_deterministic_algorithms(True)
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "models", "fixtures")
    os.makedirs(out, exist_ok=True)
    gpt2_fixtures(out)
    vit_fixtures(out)
    mlp_fixtures(out)
    for name in sorted(os.listdir(out)):
        print(f"{os.path.join(out, name)}: {os.path.getsize(os.path.join(out, name))} bytes")
