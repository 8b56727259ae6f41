"""Custom Keras layers shared by the LSTM and Transformer models.

All are registered under the "doppel" package so a saved `keras/model.keras` loads
back with `keras.saving.load_model` once this module is imported.
"""

from __future__ import annotations

import keras
from keras import ops

NEG_INF = -1e9  # added to masked attention scores: exp() underflows to exactly 0


@keras.saving.register_keras_serializable(package="doppel")
class TokenEmbedding(keras.layers.Layer):
    """Token embedding that can also be the output layer (tied weights, Press & Wolf 2017).

    `mode="embed"`: ids int [...] -> vectors [..., dim].
    `mode="logits"`: vectors [..., dim] -> logits [..., vocab] = x W^T + b (tied), or
    through a separate output matrix when `tie_output` is False.
    """

    def __init__(self, vocab_size: int, dim: int, tie_output: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.dim = dim
        self.tie_output = tie_output

    def build(self, input_shape):
        self.embeddings = self.add_weight(
            name="embeddings", shape=(self.vocab_size, self.dim),
            initializer=keras.initializers.RandomUniform(-0.05, 0.05))
        if not self.tie_output:
            self.output_kernel = self.add_weight(
                name="output_kernel", shape=(self.dim, self.vocab_size),
                initializer="glorot_uniform")
        self.output_bias = self.add_weight(
            name="output_bias", shape=(self.vocab_size,), initializer="zeros")

    def call(self, inputs, mode: str = "embed"):
        if mode == "embed":
            return ops.take(self.embeddings, ops.cast(inputs, "int32"), axis=0)
        kernel = ops.transpose(self.embeddings) if self.tie_output else self.output_kernel
        return ops.matmul(inputs, kernel) + self.output_bias

    def compute_output_spec(self, inputs, mode: str = "embed"):
        if mode == "embed":
            shape = (*inputs.shape, self.dim)
        else:
            shape = (*inputs.shape[:-1], self.vocab_size)
        return keras.KerasTensor(shape, dtype=self.compute_dtype)

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "dim": self.dim,
                "tie_output": self.tie_output}


@keras.saving.register_keras_serializable(package="doppel")
class PersonaEmbedding(keras.layers.Layer):
    """One learned vector per persona (Li et al. 2016), looked up by persona id.

    `enabled=False` is the no-persona ablation: the same weights exist (same size) but
    the output is zero, so the decoder cannot tell personas apart.
    """

    def __init__(self, n_personas: int, dim: int, enabled: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.n_personas = n_personas
        self.dim = dim
        self.enabled = enabled

    def build(self, input_shape):
        self.embeddings = self.add_weight(
            name="embeddings", shape=(self.n_personas, self.dim),
            initializer=keras.initializers.RandomUniform(-0.05, 0.05))

    def call(self, persona):  # persona: int [B] -> [B, dim]
        vectors = ops.take(self.embeddings, ops.cast(persona, "int32"), axis=0)
        # multiplying (not returning zeros) keeps the `persona` input in exported graphs
        return vectors if self.enabled else vectors * 0.0

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.dim)

    def get_config(self):
        return {**super().get_config(), "n_personas": self.n_personas, "dim": self.dim,
                "enabled": self.enabled}


@keras.saving.register_keras_serializable(package="doppel")
class WithPersona(keras.layers.Layer):
    """Concatenate the persona vector to every decoder input step.

    inputs: tokens [B, T, E], persona [B, P] -> [B, T, E + P]
    """

    def call(self, inputs):
        tokens, persona = inputs
        steps = ops.shape(tokens)[1]
        repeated = ops.repeat(ops.expand_dims(persona, 1), steps, axis=1)
        return ops.concatenate([tokens, ops.cast(repeated, tokens.dtype)], axis=-1)

    def compute_output_shape(self, input_shape):
        tokens, persona = input_shape
        return (*tokens[:-1], tokens[-1] + persona[-1])


@keras.saving.register_keras_serializable(package="doppel")
class LuongAttention(keras.layers.Layer):
    """Luong et al. 2015 "general" attention with the attentional hidden state.

    score(h_t, m_s) = h_t W_a m_s; c_t = softmax(score) · m; out = tanh(W_c [c_t; h_t]).
    inputs: query [B, T, U], memory [B, S, H], memory_mask [B, S] (1 = real token)
    -> [B, T, units]. Masked positions get exactly zero weight, so extra padding in
    the memory never changes the output.
    """

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.supports_masking = True  # the padding mask is an explicit input instead

    def compute_mask(self, inputs, previous_mask=None):
        return None

    def build(self, input_shape):
        query_shape, memory_shape, _ = input_shape
        query_dim, memory_dim = query_shape[-1], memory_shape[-1]
        self.score_kernel = self.add_weight(
            name="score_kernel", shape=(query_dim, memory_dim), initializer="glorot_uniform")
        self.output_kernel = self.add_weight(
            name="output_kernel", shape=(memory_dim + query_dim, self.units),
            initializer="glorot_uniform")
        self.output_bias = self.add_weight(
            name="output_bias", shape=(self.units,), initializer="zeros")

    def call(self, inputs):
        query, memory, memory_mask = inputs
        keys = ops.matmul(query, self.score_kernel)  # [B, T, H]
        scores = ops.matmul(keys, ops.transpose(memory, (0, 2, 1)))  # [B, T, S]
        mask = ops.cast(memory_mask, scores.dtype)[:, None, :]  # [B, 1, S]
        scores = scores + (1.0 - mask) * NEG_INF
        weights = ops.softmax(scores, axis=-1)
        context = ops.matmul(weights, memory)  # [B, T, H]
        joined = ops.concatenate([context, query], axis=-1)
        return ops.tanh(ops.matmul(joined, self.output_kernel) + self.output_bias)

    def compute_output_shape(self, input_shape):
        return (*input_shape[0][:-1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package="doppel")
def masked_token_loss(y_true, y_pred):
    """Mean cross-entropy over real reply tokens (id 0 = <pad> is ignored).

    y_true: int [B, T]; y_pred: logits [B, T, V]. A plain mean over the padded batch
    would make the loss depend on how much padding a batch happens to have.
    """
    y_true = ops.cast(y_true, "int32")
    nll = keras.losses.sparse_categorical_crossentropy(y_true, y_pred, from_logits=True)
    mask = ops.cast(ops.not_equal(y_true, 0), nll.dtype)
    return ops.sum(nll * mask) / ops.maximum(ops.sum(mask), 1.0)
