"""Small encoder-decoder Transformer with a persona embedding, same inputs as the LSTM.

Training graph, ids int32, 0 = <pad>, d = model.embed:
    context_ids [B, S] -> token + position embedding -> `layers` x encoder block -> memory [B, S, d]
    reply_in [B, T] -> token + position embedding + persona vector
        -> `layers` x decoder block (causal self-attention, attention over memory)
    -> LayerNorm -> logits [B, T, V] through the (optionally tied) token embedding
Blocks are pre-LayerNorm with `units` as the feed-forward width. Padded context
positions are masked as attention keys, so padding never changes the logits.

For the step graph the decoder state is simply the tokens decoded so far
(`state_tokens` int32 [B, t]): each step re-runs the decoder over them and returns the
last position's logits. Replies are short (tens of tokens), so this quadratic cost is
small, and the exported graph stays exact and simple (no hand-rolled KV cache).
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers, ops

from model.train.layers import PersonaEmbedding, TokenEmbedding

STATE_NAMES = ("state_tokens",)


@keras.saving.register_keras_serializable(package="doppel")
class PositionEmbedding(keras.layers.Layer):
    """x * sqrt(d) + a learned vector per position (past max_length: the last one)."""

    def __init__(self, max_length: int, dim: int, **kwargs):
        super().__init__(**kwargs)
        self.max_length = max_length
        self.dim = dim

    def build(self, input_shape):
        self.positions = self.add_weight(
            name="positions", shape=(self.max_length, self.dim),
            initializer=keras.initializers.RandomUniform(-0.05, 0.05))

    def call(self, inputs):  # [B, T, d] -> [B, T, d]
        steps = ops.arange(ops.shape(inputs)[1])
        index = ops.minimum(steps, self.max_length - 1)
        return inputs * self.dim**0.5 + ops.take(self.positions, index, axis=0)[None]

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "max_length": self.max_length, "dim": self.dim}


@keras.saving.register_keras_serializable(package="doppel")
class TransformerBlock(keras.layers.Layer):
    """Pre-LN block: self-attention, optional attention over a memory, feed-forward.

    inputs: x [B, T, d], key_mask [B, T] (encoder: padding of x) or, with
    `cross_attention`, (x [B, T, d], memory [B, S, d], memory_mask [B, S]) -> [B, T, d].
    Decoder blocks (`cross_attention=True`) are causal.
    """

    def __init__(self, dim: int, heads: int, ff_dim: int, dropout: float = 0.0,
                 cross_attention: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.dim, self.heads, self.ff_dim = dim, heads, ff_dim
        self.dropout, self.cross_attention = dropout, cross_attention
        key_dim = dim // heads
        self.self_attention = layers.MultiHeadAttention(heads, key_dim, dropout=dropout)
        self.self_norm = layers.LayerNormalization(epsilon=1e-5)
        if cross_attention:
            self.memory_attention = layers.MultiHeadAttention(heads, key_dim, dropout=dropout)
            self.memory_norm = layers.LayerNormalization(epsilon=1e-5)
        self.ff_norm = layers.LayerNormalization(epsilon=1e-5)
        self.ff_in = layers.Dense(ff_dim, activation="relu")
        self.ff_out = layers.Dense(dim)
        self.drop = layers.Dropout(dropout)

    def build(self, input_shape):
        x_shape = input_shape[0]
        self.self_norm.build(x_shape)
        self.self_attention.build(x_shape, x_shape)
        if self.cross_attention:
            memory_shape = input_shape[1]
            self.memory_norm.build(x_shape)
            self.memory_attention.build(x_shape, memory_shape)
        self.ff_norm.build(x_shape)
        self.ff_in.build(x_shape)
        self.ff_out.build((*x_shape[:-1], self.ff_dim))

    def call(self, inputs, training=None):
        if self.cross_attention:
            x, memory, memory_mask = inputs
        else:
            x, key_mask = inputs
        normed = self.self_norm(x)
        if self.cross_attention:
            attended = self.self_attention(normed, normed, use_causal_mask=True,
                                           training=training)
        else:
            attended = self.self_attention(normed, normed, value_mask=ops.cast(key_mask, "bool"),
                                           training=training)
        x = x + self.drop(attended, training=training)
        if self.cross_attention:
            normed = self.memory_norm(x)
            attended = self.memory_attention(normed, memory,
                                             value_mask=ops.cast(memory_mask, "bool"),
                                             training=training)
            x = x + self.drop(attended, training=training)
        hidden = self.ff_out(self.ff_in(self.ff_norm(x)))
        return x + self.drop(hidden, training=training)

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "heads": self.heads,
                "ff_dim": self.ff_dim, "dropout": self.dropout,
                "cross_attention": self.cross_attention}


def build_transformer_model(hp: dict, vocab_size: int, n_personas: int) -> keras.Model:
    """The trainable model; `hp` is the manifest's `model` section."""
    dim, heads, ff_dim = int(hp["embed"]), int(hp["heads"]), int(hp["units"])
    depth, dropout = int(hp["layers"]), float(hp.get("dropout", 0.0))
    context_ids = keras.Input((None,), dtype="int32", name="context_ids")
    reply_in = keras.Input((None,), dtype="int32", name="reply_in")
    persona = keras.Input((), dtype="int32", name="persona")

    tokens = TokenEmbedding(vocab_size, dim, tie_output=bool(hp.get("tie_embeddings", True)),
                            name="token_embedding")
    context_mask = ops.cast(ops.not_equal(context_ids, 0), "float32")  # [B, S]
    memory = PositionEmbedding(hp["max_context_tokens"], dim, name="context_positions")(
        tokens(context_ids))
    memory = layers.Dropout(dropout, name="context_dropout")(memory)
    for level in range(depth):
        memory = TransformerBlock(dim, heads, ff_dim, dropout, name=f"encoder_{level}")(
            [memory, context_mask])
    memory = layers.LayerNormalization(epsilon=1e-5, name="encoder_norm")(memory)  # [B, S, d]

    persona_vector = PersonaEmbedding(
        n_personas, dim, enabled=bool(hp.get("persona_embedding", True)),
        name="persona_embedding")(persona)  # [B, d]
    decoded = PositionEmbedding(hp["max_reply_tokens"], dim, name="reply_positions")(
        tokens(reply_in))
    decoded = layers.Add(name="with_persona")([decoded, ops.expand_dims(persona_vector, 1)])
    decoded = layers.Dropout(dropout, name="reply_dropout")(decoded)
    for level in range(depth):
        decoded = TransformerBlock(dim, heads, ff_dim, dropout, cross_attention=True,
                                   name=f"decoder_{level}")([decoded, memory, context_mask])
    decoded = layers.LayerNormalization(epsilon=1e-5, name="decoder_norm")(decoded)
    logits = tokens(decoded, mode="logits")  # [B, T, V]
    return keras.Model({"context_ids": context_ids, "reply_in": reply_in, "persona": persona},
                       logits, name="doppel_transformer")


class TransformerInference:
    """Encoder and one-step decoder over a trained Transformer's layers."""

    state_names = STATE_NAMES

    def __init__(self, model: keras.Model):
        self.model = model
        self.memory_dim = model.get_layer("encoder_norm").output.shape[-1]
        self._tokens = model.get_layer("token_embedding")
        self._positions = model.get_layer("reply_positions")
        self._persona = model.get_layer("persona_embedding")
        self._blocks = [layer for layer in model.layers
                        if isinstance(layer, TransformerBlock) and layer.cross_attention]
        self._norm = model.get_layer("decoder_norm")
        self._encoder = keras.Model(model.get_layer("context_ids").output,
                                    model.get_layer("encoder_norm").output, name="encoder")

    def state_specs(self) -> dict[str, tf.TensorSpec]:
        return {"state_tokens": tf.TensorSpec([None, None], tf.int32, name="state_tokens")}

    def encode(self, context_ids):
        """context_ids [B, S] -> {memory [B, S, d], state_tokens [B, 0] (nothing decoded)}"""
        return {"memory": self._encoder(context_ids, training=False),
                "state_tokens": context_ids[:, :0]}

    def step(self, token, persona, memory, memory_mask, states: dict):
        """Re-run the decoder over the tokens so far + `token`; logits of the last one.

        token [B], persona [B], memory [B, S, d], memory_mask [B, S],
        state_tokens [B, t] -> {"logits": [B, V], "state_tokens": [B, t + 1]}
        """
        seen = ops.concatenate([states["state_tokens"], ops.cast(token, "int32")[:, None]], 1)
        decoded = self._positions(self._tokens(seen))
        decoded = decoded + ops.expand_dims(self._persona(persona), 1)
        for block in self._blocks:
            decoded = block([decoded, memory, memory_mask], training=False)
        logits = self._tokens(self._norm(decoded[:, -1:]), mode="logits")[:, 0]  # [B, V]
        return {"logits": logits, "state_tokens": seen}
