"""The Keras nets by kind (LSTM seq2seq, Transformer): build, load, and TensorFlow's setup.

Shared by training, export and fine-tuning; TensorFlow is imported inside the functions,
so importing this module stays cheap.
"""

from __future__ import annotations

import os
from pathlib import Path


def setup_tensorflow(seed: int, threads: int = 0):
    """Seeded, deterministic TensorFlow; call before any op runs."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    if threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:  # TensorFlow already started in this process: keep its pools
            pass
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    return tf, keras


def load_keras_model(path: Path, compile: bool = True):
    """keras.saving.load_model with every Doppel custom layer registered first."""
    import importlib

    import keras

    for module in ("model.train.seq2seq", "model.train.transformer"):  # they register the layers
        importlib.import_module(module)
    return keras.saving.load_model(path, compile=compile)


def build_model(hp: dict, vocab_size: int, n_personas: int):
    if hp["kind"] == "transformer":
        from model.train.transformer import build_transformer_model as build
    else:
        from model.train.seq2seq import build_lstm_model as build
    return build(hp, vocab_size, n_personas)
