"""LSTM seq2seq with Luong attention and a persona embedding (Li et al. 2016).

Training graph (teacher forcing), all ids int32, 0 = <pad>:
    context_ids [B, S] -> embedding [B, S, E] -> BiLSTM (U/2 each way) -> memory [B, S, U]
    reply_in [B, T] (<s> reply) -> embedding ++ persona vector [B, T, E + E]
        -> LSTM(U), initial state = the encoder's final (forward ++ backward) states
    -> Luong attention over memory [B, T, U] -> dropout -> Dense(E) -> logits [B, T, V]
       through the (optionally tied) token embedding
Padding in the context is masked in the BiLSTM and in attention, so it never changes
the logits; padding in the reply is ignored by the loss.

`LstmInference` cuts the same weights into the two graphs export writes: an encoder
(context -> memory + initial states) and one decoder step (token + states -> logits
+ states), so the decode loop can run in numpy.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers, ops

from model.train.layers import LuongAttention, PersonaEmbedding, TokenEmbedding, WithPersona

STATE_NAMES = ("state_c", "state_h")  # sorted: the order of the graphs' state tensors


def build_lstm_model(hp: dict, vocab_size: int, n_personas: int) -> keras.Model:
    """The trainable model; `hp` is the manifest's `model` section."""
    embed, units = int(hp["embed"]), int(hp["units"])
    dropout = float(hp.get("dropout", 0.0))
    if units % 2:
        raise ValueError("model.units must be even (the encoder is bidirectional)")
    context_ids = keras.Input((None,), dtype="int32", name="context_ids")
    reply_in = keras.Input((None,), dtype="int32", name="reply_in")
    persona = keras.Input((), dtype="int32", name="persona")

    tokens = TokenEmbedding(vocab_size, embed, tie_output=bool(hp.get("tie_embeddings", True)),
                            name="token_embedding")
    context_mask = ops.not_equal(context_ids, 0)
    context = layers.Dropout(dropout, name="context_dropout")(tokens(context_ids))
    encoder = layers.Bidirectional(
        layers.LSTM(units // 2, return_sequences=True, return_state=True), name="encoder")
    memory, forward_h, forward_c, backward_h, backward_c = encoder(context, mask=context_mask)
    state_h = layers.Concatenate(name="init_h")([forward_h, backward_h])  # [B, U]
    state_c = layers.Concatenate(name="init_c")([forward_c, backward_c])

    persona_vector = PersonaEmbedding(
        n_personas, embed, enabled=bool(hp.get("persona_embedding", True)),
        name="persona_embedding")(persona)
    decoded = WithPersona(name="with_persona")([tokens(reply_in), persona_vector])
    decoded = layers.Dropout(dropout, name="reply_dropout")(decoded)
    decoded = layers.LSTM(units, return_sequences=True, name="decoder")(
        decoded, initial_state=[state_h, state_c])  # [B, T, U]
    attended = LuongAttention(units, name="attention")(
        [decoded, memory, ops.cast(context_mask, "float32")])
    attended = layers.Dropout(dropout, name="output_dropout")(attended)
    projected = layers.Dense(embed, name="output_projection")(attended)  # [B, T, E]
    logits = tokens(projected, mode="logits")  # [B, T, V]
    return keras.Model({"context_ids": context_ids, "reply_in": reply_in, "persona": persona},
                       logits, name="doppel_lstm")


class LstmInference:
    """Encoder and one-step decoder over a trained model's layers (no copies)."""

    state_names = STATE_NAMES

    def __init__(self, model: keras.Model):
        self.model = model
        self.units = model.get_layer("decoder").units
        self._tokens = model.get_layer("token_embedding")
        self._persona = model.get_layer("persona_embedding")
        self._cell = model.get_layer("decoder").cell
        self._attention = model.get_layer("attention")
        self._projection = model.get_layer("output_projection")
        self._encoder = keras.Model(
            model.get_layer("context_ids").output,
            {"memory": model.get_layer("encoder").output[0],
             "state_h": model.get_layer("init_h").output,
             "state_c": model.get_layer("init_c").output},
            name="encoder")

    @property
    def memory_dim(self) -> int:
        return self.units

    def state_specs(self) -> dict[str, tf.TensorSpec]:
        return {name: tf.TensorSpec([None, self.units], tf.float32, name=name)
                for name in self.state_names}

    def encode(self, context_ids):
        """context_ids [B, S] -> {memory [B, S, U], state_c [B, U], state_h [B, U]}"""
        return self._encoder(context_ids, training=False)

    def step(self, token, persona, memory, memory_mask, states: dict):
        """token [B], persona [B], memory [B, S, U], memory_mask [B, S], states -> outputs.

        Returns {"logits": [B, V], "state_c": [B, U], "state_h": [B, U]}.
        """
        inputs = ops.concatenate([self._tokens(token), self._persona(persona)], axis=-1)
        output, (state_h, state_c) = self._cell(
            inputs, [states["state_h"], states["state_c"]], training=False)  # [B, U]
        attended = self._attention([output[:, None, :], memory, memory_mask])  # [B, 1, U]
        logits = self._tokens(self._projection(attended[:, 0]), mode="logits")  # [B, V]
        return {"logits": logits, "state_c": state_c, "state_h": state_h}
