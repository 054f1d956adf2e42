# Independent check of `parley export`: reads the exported folder with Hugging Face's Rust `tokenizers` and the
# `safetensors` numpy loader, and runs a plain numpy Llama forward written from transformers' modeling_llama.py
# semantics (RMSNorm, rotate_half rotary, grouped-query attention, SwiGLU). Prints JSON: ids per text, logits.
# Usage: python hf_reference.py EXPORT_DIR '{"texts": [...], "ids": [...]}'
import json
import sys

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer


def rms_norm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def rotate_half(x):
    h = x.shape[-1] // 2
    return np.concatenate([-x[..., h:], x[..., :h]], axis=-1)


def forward(d, cfg, ids):
    W = load_file(f"{d}/model.safetensors")
    H, KV = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg["hidden_size"] // H
    eps = cfg["rms_norm_eps"]
    T = len(ids)
    x = W["model.embed_tokens.weight"][np.array(ids)].astype(np.float64)
    inv = 1.0 / (cfg["rope_theta"] ** (np.arange(0, hd, 2) / hd))
    fr = np.arange(T)[:, None] * inv[None, :]
    emb = np.concatenate([fr, fr], axis=-1)
    cos, sin = np.cos(emb)[:, None, :], np.sin(emb)[:, None, :]
    mask = np.triu(np.full((T, T), -np.inf), 1)
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = rms_norm(x, W[p + "input_layernorm.weight"], eps)
        def proj(name, heads):
            y = h @ W[p + f"self_attn.{name}_proj.weight"].T
            if p + f"self_attn.{name}_proj.bias" in W:
                y = y + W[p + f"self_attn.{name}_proj.bias"]
            return y.reshape(T, heads, hd)
        q, k, v = proj("q", H), proj("k", KV), proj("v", KV)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = H // KV
        k = np.repeat(k, rep, axis=1)
        v = np.repeat(v, rep, axis=1)
        s = np.einsum("thd,shd->hts", q, k) / np.sqrt(hd) + mask
        s = np.exp(s - s.max(-1, keepdims=True))
        s = s / s.sum(-1, keepdims=True)
        o = np.einsum("hts,shd->thd", s, v).reshape(T, H * hd)
        x = x + o @ W[p + "self_attn.o_proj.weight"].T
        h = rms_norm(x, W[p + "post_attention_layernorm.weight"], eps)
        g = h @ W[p + "mlp.gate_proj.weight"].T
        u = h @ W[p + "mlp.up_proj.weight"].T
        x = x + ((g / (1 + np.exp(-g))) * u) @ W[p + "mlp.down_proj.weight"].T
    x = rms_norm(x, W["model.norm.weight"], eps)
    head = W["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else W["lm_head.weight"]
    return x @ head.T


def main():
    d, arg = sys.argv[1], json.loads(sys.argv[2])
    cfg = json.load(open(f"{d}/config.json"))
    tok = Tokenizer.from_file(f"{d}/tokenizer.json")
    ids = [tok.encode(t, add_special_tokens=True).ids for t in arg["texts"]]
    decoded = [tok.decode(i, skip_special_tokens=False) for i in ids]
    logits = forward(d, cfg, arg["ids"])
    print(json.dumps({"ids": ids, "decoded": decoded, "logits": logits.astype(float).tolist()}))


main()
