"""An independent llama forward pass in plain numpy (float64), written from the paper's
equations, to check the Keras net and the ONNX graph against. Not used by the product.
"""

import numpy as np


def rms_norm(x, scale, eps):
    return x / np.sqrt((x * x).mean(axis=-1, keepdims=True) + eps) * scale


def rotate(x, positions, base):
    """x [T, h, D]; adjacent features (2i, 2i+1) form each rotation pair."""
    dim = x.shape[-1]
    out = np.empty_like(x)
    for i in range(dim // 2):
        theta = positions * base ** (-2.0 * i / dim)  # [T]
        c, s = np.cos(theta)[:, None], np.sin(theta)[:, None]
        a, b = x[:, :, 2 * i], x[:, :, 2 * i + 1]
        out[:, :, 2 * i] = a * c - b * s
        out[:, :, 2 * i + 1] = a * s + b * c
    return out


def forward(weights: dict, config, ids) -> np.ndarray:
    """Logits [T, V] of one unpadded sequence; weights in GGUF names, [out, in]."""
    w = {name: value.astype(np.float64) for name, value in weights.items()}
    c = config
    dim = c.hidden // c.heads
    steps = len(ids)
    positions = np.arange(steps, dtype=np.float64)
    h = w["token_embd.weight"][np.asarray(ids)]
    future = np.triu(np.ones((steps, steps), bool), k=1)
    for layer in range(c.layers):
        p = f"blk.{layer}."
        x = rms_norm(h, w[p + "attn_norm.weight"], c.eps)
        q = rotate((x @ w[p + "attn_q.weight"].T).reshape(steps, c.heads, dim), positions,
                   c.rope_base)
        k = rotate((x @ w[p + "attn_k.weight"].T).reshape(steps, c.kv_heads, dim), positions,
                   c.rope_base)
        v = (x @ w[p + "attn_v.weight"].T).reshape(steps, c.kv_heads, dim)
        heads = []
        for head in range(c.heads):
            kv = head // (c.heads // c.kv_heads)
            scores = q[:, head] @ k[:, kv].T / np.sqrt(dim)
            scores[future] = -np.inf
            probs = np.exp(scores - scores.max(axis=-1, keepdims=True))
            probs /= probs.sum(axis=-1, keepdims=True)
            heads.append(probs @ v[:, kv])
        h = h + np.concatenate(heads, axis=-1) @ w[p + "attn_output.weight"].T
        x = rms_norm(h, w[p + "ffn_norm.weight"], c.eps)
        gate = x @ w[p + "ffn_gate.weight"].T
        h = h + (gate / (1 + np.exp(-gate)) * (x @ w[p + "ffn_up.weight"].T)) \
            @ w[p + "ffn_down.weight"].T
    return rms_norm(h, w["output_norm.weight"], c.eps) @ w["token_embd.weight"].T
