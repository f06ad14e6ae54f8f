"""A tiny BERT sequence classifier and its tokenizer, built here, laid out as a FinBERT directory is.

The directory holds what ``scripts/export_finbert_onnx.py`` leaves next to real FinBERT weights: the tokenizer
files (saved by transformers), ``config.json`` (labels, lengths) and ``model.onnx`` with the exported model's
interface: ``input_ids``, ``attention_mask``, ``token_type_ids`` (int64, batch x sequence) in, ``logits`` (batch x
labels) out. The network is one BERT encoder layer (embeddings, layer norm, masked multi-head self-attention,
feed-forward with GELU, residuals), the pooler on [CLS] and a linear classifier, with random weights from a seed:
small enough to build in milliseconds, real enough that padding, masking and truncation matter.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

LABELS = ("positive", "negative", "neutral")
"""ProsusAI/finbert's order."""

SENTENCE = (
    "profit beats loss misses good bad strong weak shares rise fall the a of and in to infosys tcs results quarter "
    "guidance growth margin revenue record low high bank rates cut hike outlook"
)
WORDS = SENTENCE.split()

HIDDEN, HEADS, INTERMEDIATE = 16, 2, 32


def write_tiny_finbert(root: Path, *, max_length: int = 32, seed: int = 0, onnx_model: bool = True) -> Path:
    """Write the tokenizer, ``config.json`` and (unless ``onnx_model`` is False) ``model.onnx`` under ``root``."""
    from transformers import BertConfig, BertTokenizerFast

    root.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    (root / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizerFast(vocab_file=str(root / "vocab.txt"), model_max_length=max_length).save_pretrained(root)
    BertConfig(
        vocab_size=len(vocab),
        hidden_size=HIDDEN,
        num_hidden_layers=1,
        num_attention_heads=HEADS,
        intermediate_size=INTERMEDIATE,
        max_position_embeddings=max_length,
        id2label=dict(enumerate(LABELS)),
        label2id={label: index for index, label in enumerate(LABELS)},
    ).save_pretrained(root)
    if onnx_model:
        (root / "model.onnx").write_bytes(tiny_bert(len(vocab), max_length, seed))
    return root


def tiny_bert(vocab_size: int, max_length: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    head = HIDDEN // HEADS
    initialisers: list[onnx.TensorProto] = []

    def weight(name: str, *shape: int, scale: float = 0.5) -> str:
        initialisers.append(numpy_helper.from_array((scale * rng.standard_normal(shape)).astype(np.float32), name))
        return name

    def constant(name: str, value: object, dtype: type = np.float32) -> str:
        initialisers.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    nodes: list[onnx.NodeProto] = []

    def node(op: str, inputs: list[str], output: str, **attributes: object) -> str:
        nodes.append(helper.make_node(op, inputs, [output], **attributes))
        return output

    def layer_norm(value: str, name: str) -> str:
        scale, bias = constant(f"{name}.scale", np.ones(HIDDEN)), constant(f"{name}.bias", np.zeros(HIDDEN))
        return node("LayerNormalization", [value, scale, bias], name, axis=-1, epsilon=1e-12)

    def dense(value: str, name: str, fan_in: int, fan_out: int) -> str:
        product = node("MatMul", [value, weight(f"{name}.w", fan_in, fan_out, scale=1 / np.sqrt(fan_in))], f"{name}.mm")
        return node("Add", [product, constant(f"{name}.b", np.zeros(fan_out))], name)

    # Embeddings: words + positions (0..seq-1) + token types, then layer norm.
    words = node("Gather", [weight("word_embeddings", vocab_size, HIDDEN), "input_ids"], "words")
    shape = node("Shape", ["input_ids"], "ids_shape")
    length = node("Gather", [shape, constant("one", 1, np.int64)], "seq_len")
    positions = node("Range", [constant("zero", 0, np.int64), length, constant("step", 1, np.int64)], "positions")
    placed = node("Gather", [weight("position_embeddings", max_length, HIDDEN), positions], "placed")
    types = node("Gather", [weight("token_type_embeddings", 2, HIDDEN), "token_type_ids"], "types")
    summed = node("Add", [node("Add", [words, placed], "words_placed"), types], "embedded")
    hidden = layer_norm(summed, "embeddings.norm")

    # Self-attention over the unmasked tokens: (batch, heads, seq, head) for Q, K and V.
    split = constant("heads_shape", [0, -1, HEADS, head], np.int64)

    def heads(name: str) -> str:
        projected = dense(hidden, f"attention.{name}", HIDDEN, HIDDEN)
        reshaped = node("Reshape", [projected, split], f"{name}.split")
        return node("Transpose", [reshaped], f"{name}.heads", perm=[0, 2, 1, 3])

    query, key, value = heads("query"), heads("key"), heads("value")
    scores = node("MatMul", [query, node("Transpose", [key], "key.t", perm=[0, 1, 3, 2])], "scores")
    scaled = node("Div", [scores, constant("sqrt_head", np.sqrt(head))], "scores.scaled")
    mask = node(
        "Cast",
        [node("Unsqueeze", ["attention_mask", constant("mask_axes", [1, 2], np.int64)], "mask.4d")],
        "mask.f",
        to=TensorProto.FLOAT,
    )
    penalty = node(
        "Mul", [node("Sub", [constant("one_f", 1.0), mask], "mask.inv"), constant("big", -10_000.0)], "mask.penalty"
    )
    weights = node("Softmax", [node("Add", [scaled, penalty], "scores.masked")], "attention.weights", axis=-1)
    context = node("Transpose", [node("MatMul", [weights, value], "context.heads")], "context.t", perm=[0, 2, 1, 3])
    merged = node("Reshape", [context, constant("merge_shape", [0, -1, HIDDEN], np.int64)], "context")
    attended = layer_norm(
        node("Add", [dense(merged, "attention.output", HIDDEN, HIDDEN), hidden], "attention.residual"), "attention.norm"
    )

    # Feed-forward with GELU (x * Phi(x), through Erf), residual, layer norm.
    up = dense(attended, "intermediate", HIDDEN, INTERMEDIATE)
    erf = node("Erf", [node("Div", [up, constant("sqrt2", np.sqrt(2.0))], "gelu.scaled")], "gelu.erf")
    gelu = node(
        "Mul",
        [up, node("Mul", [node("Add", [erf, constant("one_g", 1.0)], "gelu.1p"), constant("half", 0.5)], "gelu.phi")],
        "gelu",
    )
    encoded = layer_norm(
        node("Add", [dense(gelu, "output", INTERMEDIATE, HIDDEN), attended], "output.residual"), "output.norm"
    )

    # Pooler on [CLS] (position 0), then the classifier.
    first = node("Gather", [encoded, constant("zero_index", 0, np.int64)], "cls", axis=1)
    pooled = node("Tanh", [dense(first, "pooler", HIDDEN, HIDDEN)], "pooled")
    dense(pooled, "logits", HIDDEN, len(LABELS))

    graph = helper.make_graph(
        nodes,
        "tiny_bert",
        [
            helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "sequence"])
            for name in ("input_ids", "attention_mask", "token_type_ids")
        ],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", len(LABELS)])],
        initialisers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.checker.check_model(model, full_check=True)
    content: bytes = model.SerializeToString()
    return content
