"""Summarises the CSV logs of scripts/experiments.sh into docs/experiments.md and PNG loss curves."""
import csv
import glob
import os
import platform
import statistics
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

NORMS = [("ln", "LayerNorm"), ("rms", "RMSNorm"), ("cbwc", "CBWC + RMSNorm")]
MODELS = [("mlp", "MLP on Fashion-MNIST"), ("vit", "ViT on Fashion-MNIST"), ("gpt", "char GPT on fortunes")]


def read(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main(logs, docs):
    img = os.path.join(docs, "img")
    os.makedirs(img, exist_ok=True)
    lines = [
        "# Experiments: LayerNorm vs RMSNorm vs CBWC + RMSNorm",
        "",
        "Produced by `bash scripts/experiments.sh` (which runs `build/examples/train` for every model, norm and",
        "seed, then this summary). AdamW, cosine schedule with warmup, gradient clipping at 1.0, float32.",
        f"Machine: {cpu_name()}, {os.cpu_count()} threads; build: see the `ms/step` column for the speed.",
        "",
        "| model | norm | seeds | final val accuracy (mean ± sd) | final val loss (mean ± sd) | ms/step |",
        "|---|---|---|---|---|---|",
    ]
    for model, title in MODELS:
        runs = {}
        for norm, _ in NORMS:
            files = sorted(glob.glob(os.path.join(logs, f"{model}_{norm}_*.csv")))
            runs[norm] = [read(p) for p in files]
        if not any(runs.values()):
            continue
        fig, ax = plt.subplots(figsize=(7, 4))
        for (norm, label), color in zip(NORMS, ["tab:blue", "tab:orange", "tab:green"]):
            seeds = runs[norm]
            if not seeds:
                continue
            acc = [float(r[-1]["val_accuracy"]) for r in seeds]
            loss = [float(r[-1]["val_loss"]) for r in seeds]
            ms = [statistics.mean(float(x["ms_per_step"]) for x in r) for r in seeds if "ms_per_step" in r[0]]
            sd = lambda v: statistics.stdev(v) if len(v) > 1 else 0.0  # noqa: E731
            lines.append(
                f"| {title} | {label} | {len(seeds)} | {statistics.mean(acc):.4f} ± {sd(acc):.4f} | "
                f"{statistics.mean(loss):.4f} ± {sd(loss):.4f} | {statistics.mean(ms):.2f} |"
            )
            for i, r in enumerate(seeds):
                steps = [int(x["step"]) for x in r]
                ax.plot(steps, [float(x["val_loss"]) for x in r], color=color, alpha=0.8,
                        label=f"{label} (val)" if i == 0 else None)
                ax.plot(steps, [float(x["train_loss"]) for x in r], color=color, alpha=0.35, linestyle="--",
                        label=f"{label} (train)" if i == 0 else None)
        ax.set_xlabel("step")
        ax.set_ylabel("cross-entropy")
        ax.set_title(title)
        ax.legend()
        fig.tight_layout()
        fig.savefig(os.path.join(img, f"experiments_{model}.png"), dpi=110)
        plt.close(fig)
    lines += ["", "Loss curves (solid: validation, dashed: training mean since the previous point):", ""]
    for model, title in MODELS:
        if os.path.exists(os.path.join(img, f"experiments_{model}.png")):
            lines.append(f"![{title}](img/experiments_{model}.png)")
    lines += [
        "",
        "Reading the table: every LayerNorm of these three networks is foldable, so CBWC + RMSNorm is the same",
        "function as the LayerNorm model under reparameterisation and follows the same trajectory up to float",
        "rounding (tests/train/test_cbwc_equivalence.cpp checks this exactly over 200 steps); plain RMSNorm is a",
        "different model (no centring).",
    ]
    with open(os.path.join(docs, "experiments.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
