#!/usr/bin/env python
"""Export a FinBERT directory's transformers weights to ``model.onnx`` beside them, for finbert_server's ONNX
Runtime backend, and check the export against PyTorch on a few sentences.

    python scripts/export_finbert_onnx.py models/finbert [--opset 17] [--atol 1e-4]

Needs PyTorch (``pip install torch``) where it runs, once; finbert_server then serves the ONNX file without it.
The graph takes ``input_ids``, ``attention_mask`` and ``token_type_ids`` (batch x sequence, both dynamic) and gives
``logits``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

SENTENCES = [
    "Infosys reports record quarterly profit, beating estimates.",
    "The bank's bad loans rose sharply and its shares fell.",
    "The board will meet on Thursday.",
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir", type=Path, help="the directory with config.json, the tokenizer and the weights")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    parser.add_argument("--atol", type=float, default=1e-4, help="largest logit difference accepted (default 1e-4)")
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        print("error: exporting needs PyTorch where it runs (pip install torch); serving does not", file=sys.stderr)
        return 1
    import numpy as np
    import onnxruntime as ort
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    directory: Path = args.model_dir
    if not (directory / "config.json").is_file():
        print(f"error: {directory} holds no model (config.json is missing)", file=sys.stderr)
        return 1
    tokenizer = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(str(directory), local_files_only=True).eval()
    encoded = tokenizer(SENTENCES, padding=True, truncation=True, return_tensors="pt")
    names = ["input_ids", "attention_mask", "token_type_ids"]
    inputs = tuple(encoded[name] for name in names)
    target = directory / "model.onnx"
    partial = directory / ".model.onnx.partial"
    with torch.inference_mode():
        torch.onnx.export(
            model,
            inputs,
            str(partial),
            input_names=names,
            output_names=["logits"],
            dynamic_axes={**{name: {0: "batch", 1: "sequence"} for name in names}, "logits": {0: "batch"}},
            opset_version=args.opset,
            dynamo=False,
        )
        expected = model(**encoded).logits.numpy()
    session = ort.InferenceSession(str(partial), providers=["CPUExecutionProvider"])
    (actual,) = session.run(["logits"], {name: encoded[name].numpy().astype(np.int64) for name in names})
    worst = float(np.abs(actual - expected).max())
    if worst > args.atol:
        partial.unlink()
        print(f"error: the export differs from PyTorch by {worst:.2e} > {args.atol:g}; not written", file=sys.stderr)
        return 1
    partial.replace(target)
    print(f"wrote {target} ({target.stat().st_size / 1e6:.1f} MB); logits within {worst:.2e} of PyTorch")
    return 0


if __name__ == "__main__":
    sys.exit(main())
