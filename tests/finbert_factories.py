"""A tiny BERT sequence classifier and its tokenizer, built here, laid out as a FinBERT directory is.

The directory holds what ``scripts/export_finbert_onnx.py`` leaves next to real FinBERT weights: the tokenizer
files (saved by transformers), ``config.json`` (labels, lengths) and ``model.onnx`` with the exported model's
interface: ``input_ids``, ``attention_mask``, ``token_type_ids`` (int64, batch x sequence) in, ``logits`` (batch x
labels) out. The network is one BERT encoder layer (embeddings, layer norm, masked multi-head self-attention,
feed-forward with GELU, residuals), the pooler on [CLS] and a linear classifier, with random weights from a seed:
small enough to build in milliseconds, real enough that padding, masking and truncation matter.

The shape is a parameter too (``layers``, ``hidden``, ``heads``, ``intermediate``, ``vocab_size``), so
``bench/sentiment.py`` can build a model of BERT-base's size (ProsusAI/finbert's: 12 layers, hidden 768, 12 heads,
intermediate 3072, 30,522 tokens) and time what the server computes; the defaults give the tiny model.
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


def write_tiny_finbert(
    root: Path,
    *,
    max_length: int = 32,
    seed: int = 0,
    onnx_model: bool = True,
    layers: int = 1,
    hidden: int = HIDDEN,
    heads: int = HEADS,
    intermediate: int = INTERMEDIATE,
    vocab_size: int | None = None,
) -> Path:
    """Write the tokenizer, ``config.json`` and (unless ``onnx_model`` is False) ``model.onnx`` under ``root``.

    ``vocab_size``, when larger than the word list makes, pads the vocabulary with ``[unusedN]`` tokens, as BERT's
    own has, to size the embeddings.
    """
    from transformers import BertConfig, BertTokenizerFast

    if layers < 1 or hidden % heads:
        raise ValueError(f"need at least one layer and hidden divisible by heads, was {layers=} {hidden=} {heads=}")
    root.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    vocab += [f"[unused{index}]" for index in range((vocab_size or 0) - len(vocab))]
    (root / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizerFast(vocab=str(root / "vocab.txt"), model_max_length=max_length).save_pretrained(root)
    BertConfig(
        vocab_size=len(vocab),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=intermediate,
        max_position_embeddings=max_length,
        id2label=dict(enumerate(LABELS)),
        label2id={label: index for index, label in enumerate(LABELS)},
    ).save_pretrained(root)
    if onnx_model:
        shape = {"layers": layers, "hidden": hidden, "heads": heads, "intermediate": intermediate}
        (root / "model.onnx").write_bytes(tiny_bert(len(vocab), max_length, seed, **shape))
    return root


def tiny_bert(
    vocab_size: int,
    max_length: int,
    seed: int,
    *,
    layers: int = 1,
    hidden: int = HIDDEN,
    heads: int = HEADS,
    intermediate: int = INTERMEDIATE,
) -> bytes:
    rng = np.random.default_rng(seed)
    head = hidden // heads
    initialisers: list[onnx.TensorProto] = []
    constants: set[str] = set()

    def weight(name: str, *shape: int, scale: float = 0.5) -> str:
        initialisers.append(numpy_helper.from_array((scale * rng.standard_normal(shape)).astype(np.float32), name))
        return name

    def constant(name: str, value: object, dtype: type = np.float32) -> str:
        if name not in constants:  # shared by every layer: made once
            constants.add(name)
            initialisers.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    nodes: list[onnx.NodeProto] = []

    def node(op: str, inputs: list[str], output: str, **attributes: object) -> str:
        nodes.append(helper.make_node(op, inputs, [output], **attributes))
        return output

    def layer_norm(value: str, name: str) -> str:
        scale, bias = constant(f"{name}.scale", np.ones(hidden)), constant(f"{name}.bias", np.zeros(hidden))
        return node("LayerNormalization", [value, scale, bias], name, axis=-1, epsilon=1e-12)

    def dense(value: str, name: str, fan_in: int, fan_out: int) -> str:
        product = node("MatMul", [value, weight(f"{name}.w", fan_in, fan_out, scale=1 / np.sqrt(fan_in))], f"{name}.mm")
        return node("Add", [product, constant(f"{name}.b", np.zeros(fan_out))], name)

    # Embeddings: words + positions (0..seq-1) + token types, then layer norm.
    words = node("Gather", [weight("word_embeddings", vocab_size, hidden), "input_ids"], "words")
    shape = node("Shape", ["input_ids"], "ids_shape")
    length = node("Gather", [shape, constant("one", 1, np.int64)], "seq_len")
    positions = node("Range", [constant("zero", 0, np.int64), length, constant("step", 1, np.int64)], "positions")
    placed = node("Gather", [weight("position_embeddings", max_length, hidden), positions], "placed")
    types = node("Gather", [weight("token_type_embeddings", 2, hidden), "token_type_ids"], "types")
    summed = node("Add", [node("Add", [words, placed], "words_placed"), types], "embedded")
    hidden_states = layer_norm(summed, "embeddings.norm")
    penalty = ""

    def encoder_layer(hidden_states: str, prefix: str) -> str:
        """One BERT layer; its values are named under ``prefix`` (none for the first, as the tiny model has it)."""
        nonlocal penalty
        # Self-attention over the unmasked tokens: (batch, heads, seq, head) for Q, K and V.
        split = constant("heads_shape", [0, -1, heads, head], np.int64)

        def project(name: str) -> str:
            projected = dense(hidden_states, f"{prefix}attention.{name}", hidden, hidden)
            reshaped = node("Reshape", [projected, split], f"{prefix}{name}.split")
            return node("Transpose", [reshaped], f"{prefix}{name}.heads", perm=[0, 2, 1, 3])

        query, key, value = project("query"), project("key"), project("value")
        key_t = node("Transpose", [key], f"{prefix}key.t", perm=[0, 1, 3, 2])
        scores = node("MatMul", [query, key_t], f"{prefix}scores")
        scaled = node("Div", [scores, constant("sqrt_head", np.sqrt(head))], f"{prefix}scores.scaled")
        if not penalty:  # the mask's penalty is the same for every layer
            mask = node(
                "Cast",
                [node("Unsqueeze", ["attention_mask", constant("mask_axes", [1, 2], np.int64)], "mask.4d")],
                "mask.f",
                to=TensorProto.FLOAT,
            )
            inverse = node("Sub", [constant("one_f", 1.0), mask], "mask.inv")
            penalty = node("Mul", [inverse, constant("big", -10_000.0)], "mask.penalty")
        masked = node("Add", [scaled, penalty], f"{prefix}scores.masked")
        weights = node("Softmax", [masked], f"{prefix}attention.weights", axis=-1)
        context_heads = node("MatMul", [weights, value], f"{prefix}context.heads")
        context = node("Transpose", [context_heads], f"{prefix}context.t", perm=[0, 2, 1, 3])
        merged = node("Reshape", [context, constant("merge_shape", [0, -1, hidden], np.int64)], f"{prefix}context")
        attention_out = dense(merged, f"{prefix}attention.output", hidden, hidden)
        attended = layer_norm(
            node("Add", [attention_out, hidden_states], f"{prefix}attention.residual"), f"{prefix}attention.norm"
        )

        # Feed-forward with GELU (x * Phi(x), through Erf), residual, layer norm.
        up = dense(attended, f"{prefix}intermediate", hidden, intermediate)
        erf = node(
            "Erf", [node("Div", [up, constant("sqrt2", np.sqrt(2.0))], f"{prefix}gelu.scaled")], f"{prefix}gelu.erf"
        )
        phi = node(
            "Mul",
            [node("Add", [erf, constant("one_g", 1.0)], f"{prefix}gelu.1p"), constant("half", 0.5)],
            f"{prefix}gelu.phi",
        )
        gelu = node("Mul", [up, phi], f"{prefix}gelu")
        down = dense(gelu, f"{prefix}output", intermediate, hidden)
        return layer_norm(node("Add", [down, attended], f"{prefix}output.residual"), f"{prefix}output.norm")

    for index in range(layers):
        hidden_states = encoder_layer(hidden_states, f"layer{index}." if index else "")
    encoded = hidden_states

    # Pooler on [CLS] (position 0), then the classifier.
    first = node("Gather", [encoded, constant("zero_index", 0, np.int64)], "cls", axis=1)
    pooled = node("Tanh", [dense(first, "pooler", hidden, hidden)], "pooled")
    dense(pooled, "logits", hidden, len(LABELS))

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
