"""The smoothing vectors of a bundle's int8 serving graph (SmoothQuant), at export.

Each block matmul's input is quantized to int8 per row in the serving graph, and a few
input channels run far larger than the rest (in the demo, block 1's FFN down projection
reads values up to 39 where the median is 1.5): one scale per row would spend its range
on them. So each input channel j is divided by s_j and the weight's row j multiplied by
it, which changes nothing in float arithmetic and moves the outliers into the weights,
quantized per output column:

    s_j = peak_j ** ALPHA / weight_peak_j ** (1 - ALPHA)

peak_j is the largest |x_j| the float32 graph sees on prompts of the bundle's own kind
(contexts and replies of its retrieval index), weight_peak_j the largest |W[:, j]| over
the matmuls reading that input (q, k and v share one; gate and up another).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort

from model.serve.pretrained.assemble import WEIGHTS_FILE, fine_tuned_weights, write_weights
from model.serve.pretrained.base import LlamaConfig
from model.serve.pretrained.prompt import PromptCodec
from model.serve.retrieval import FILE_NAME as RETRIEVAL_FILE
from model.serve.retrieval import RetrievalIndex
from model.train.pretrained.onnx_graph import build_decoder, input_groups, weight_layout

# Teacher-forced on 300 validation replies of the demo: 0.5 -> 3.627 nats/token, 0.6 ->
# 3.617, 0.75 -> 3.618 (float32: 3.618), 0.9 -> 3.627 (onnx_graph.build_decoder has the rest)
ALPHA = 0.75
PROMPTS = 64


def smoothing_vectors(bundle_dir: Path, meta: dict) -> dict[str, np.ndarray]:
    """{input group: s [in]} for the bundle's fine-tuned weights."""
    config = LlamaConfig.from_dict(meta["base"]["config"])
    base, weights = fine_tuned_weights(bundle_dir, meta)
    codec = PromptCodec(base.tokenizer, meta["max_context_tokens"], meta["max_reply_tokens"])
    index = RetrievalIndex.load(bundle_dir / RETRIEVAL_FILE)
    picks = np.linspace(0, len(index) - 1, min(PROMPTS, len(index))).round().astype(int)
    prompts = [codec.prompt_ids(index.contexts[i], None, meta["default_persona"]) +
               codec.reply_ids(index.replies[i]) for i in sorted(set(picks))]
    if not prompts:  # an empty index: at least the persona's prompt answering a greeting
        prompts = [codec.prompt_ids(["hi!"], None, meta["default_persona"])]
    peaks = activation_peaks(config, weights, prompts)
    vectors = {}
    for group, members in input_groups(config).items():
        weight_peak = np.max([np.abs(weights[name]).max(axis=0) for name in members], axis=0)
        vectors[group] = (np.maximum(peaks[group], 1e-5) ** ALPHA /
                          np.maximum(weight_peak, 1e-5) ** (1 - ALPHA)).astype(np.float32)
    return vectors


def activation_peaks(config: LlamaConfig, weights: dict, prompts: list[list[int]]
                     ) -> dict[str, np.ndarray]:
    """{input group: largest |x| per channel} of the float32 graph over `prompts`."""
    empty = np.zeros((1, config.kv_heads, 0, config.head_dim), np.float32)
    caches = {f"{cache}_{kind}.{layer}": empty for layer in range(config.layers)
              for kind in ("key", "value") for cache in ("past", "prefix")}  # both empty
    peaks: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory() as folder:
        write_weights(Path(folder) / WEIGHTS_FILE, weight_layout(config, quantized=False),
                      weights, {}, "calibration layout")
        graph = Path(folder) / "calibration.onnx"
        graph.write_bytes(build_decoder(config, quantized=False, peaks=True)
                          .SerializeToString())
        session = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
        names = [o.name for o in session.get_outputs() if o.name.startswith("peak/")]
        for ids in prompts:  # one at a time: left padding would count in the peaks
            feeds = {"input_ids": np.array([ids], np.int64),
                     "positions": np.arange(len(ids), dtype=np.int64)[None],
                     "key_mask": np.ones((1, len(ids)), np.float32),
                     "prefix_mask": np.zeros((1, 0), np.float32), **caches}
            for name, value in zip(names, session.run(names, feeds), strict=True):
                group = name.removeprefix("peak/")
                peaks[group] = np.maximum(peaks.get(group, 0.0), value)
    return peaks
