#!/usr/bin/env python3
"""Writes the tiny decoder fixtures that tests/BridgeRec.Tests/Language/DecoderTests.cs checks the C# models against.

An independent reference, in plain PyTorch (Debian's python3-torch), of our own:
  * a byte-level BPE tokenizer (GPT-2's pre-tokenization pattern, written out as a scanner because the
    standard library's `re` has no \\p{L}), trained on a few lines of text;
  * GPT-2 (learned positions, LayerNorm, GELU-tanh, Conv1D weights stored [in, out], tied head) and the
    LLaMA family (RMSNorm, rotary embeddings in the rotate-half layout, SwiGLU, grouped-query attention,
    Qwen2's q/k/v bias), computed in float64 one sequence at a time with an explicit causal softmax;
  * a safetensors writer (F32 and BF16) and Hugging Face folders: config.json, model.safetensors or a sharded
    model.safetensors.index.json, vocab.json + merges.txt or tokenizer.json.
Random weights, generated here: no third-party data. Run from the repository root:

    nice -n 19 /usr/bin/python3 tools/make_decoder_fixtures.py

Output: tests/BridgeRec.Tests/Fixtures/decoders/{gpt2-tiny,qwen2-tiny,llama-tiny-bf16-sharded}/ and expected.json /
expected.safetensors beside each model's files.
"""
import json
import math
import os
import struct
import unicodedata

import torch

OUT = os.path.join("tests", "BridgeRec.Tests", "Fixtures", "decoders")

# ----------------------------------------------------------------------------------------------------------
# Byte-level BPE


def byte_to_char():
    """The printable stand-in for every byte: printable Latin-1 bytes map to themselves, the others to 256 + n."""
    keep = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


B2C = byte_to_char()
C2B = {c: b for b, c in B2C.items()}


def is_letter(c):
    return unicodedata.category(c).startswith("L")


def is_number(c):
    return unicodedata.category(c).startswith("N")


def is_space(c):
    return c in " \t\n\r\f\v\x85" or unicodedata.category(c) in ("Zs", "Zl", "Zp")


def pretokenize(text):
    """GPT-2's pattern  's|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+  as a scanner."""
    out, i, n = [], 0, len(text)
    while i < n:
        if text[i] == "'":
            for suffix in ("s", "t", "re", "ve", "m", "ll", "d"):
                if text.startswith(suffix, i + 1):
                    break
            else:
                suffix = None
            if suffix is not None:
                out.append(text[i:i + 1 + len(suffix)])
                i += 1 + len(suffix)
                continue
        j = i + 1 if text[i] == " " and i + 1 < n else i
        matched = False
        for cls in (is_letter, is_number, lambda c: not (is_space(c) or is_letter(c) or is_number(c))):
            if j < n and cls(text[j]):
                k = j
                while k < n and cls(text[k]):
                    k += 1
                out.append(text[i:k])
                i = k
                matched = True
                break
        if matched:
            continue
        # whitespace: \s+(?!\S) keeps the last space for the next word when a non-space follows; else \s+
        k = i
        while k < n and is_space(text[k]):
            k += 1
        if k == n or k - 1 == i:
            out.append(text[i:k])
            i = k
        else:
            out.append(text[i:k - 1])
            i = k - 1
    return out


def bpe_word(word, ranks):
    symbols = [B2C[b] for b in word.encode("utf-8")]
    while len(symbols) > 1:
        best = None
        for a, b in zip(symbols, symbols[1:]):
            r = ranks.get((a, b))
            if r is not None and (best is None or r < best[0]):
                best = (r, a, b)
        if best is None:
            break
        _, a, b = best
        merged, k = [], 0
        while k < len(symbols):
            if k + 1 < len(symbols) and symbols[k] == a and symbols[k + 1] == b:
                merged.append(a + b)
                k += 2
            else:
                merged.append(symbols[k])
                k += 1
        symbols = merged
    return symbols


def train_merges(corpus, count):
    words = {}
    for line in corpus:
        for w in pretokenize(line):
            key = tuple(B2C[b] for b in w.encode("utf-8"))
            words[key] = words.get(key, 0) + 1
    merges = []
    for _ in range(count):
        pairs = {}
        for w, f in words.items():
            for p in zip(w, w[1:]):
                pairs[p] = pairs.get(p, 0) + f
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merges.append(best)
        new = {}
        for w, f in words.items():
            out, k = [], 0
            while k < len(w):
                if k + 1 < len(w) and (w[k], w[k + 1]) == best:
                    out.append(w[k] + w[k + 1])
                    k += 2
                else:
                    out.append(w[k])
                    k += 1
            new[tuple(out)] = new.get(tuple(out), 0) + f
        words = new
    return merges


class Bpe:
    def __init__(self, merges, specials):
        self.vocab = {B2C[b]: b for b in range(256)}
        for a, b in merges:
            self.vocab.setdefault(a + b, len(self.vocab))
        self.ranks = {m: r for r, m in enumerate(merges)}
        self.merges = merges
        self.specials = {}
        for s in specials:
            self.specials[s] = len(self.vocab) + len(self.specials)

    @property
    def size(self):
        return len(self.vocab) + len(self.specials)

    def encode(self, text):
        ids, pieces = [], [text]
        for s in self.specials:  # split out special tokens first, as Hugging Face's added tokens are
            nxt = []
            for p in pieces:
                if isinstance(p, int):
                    nxt.append(p)
                    continue
                parts = p.split(s)
                for k, part in enumerate(parts):
                    if k > 0:
                        nxt.append(self.specials[s])
                    if part:
                        nxt.append(part)
            pieces = nxt
        for p in pieces:
            if isinstance(p, int):
                ids.append(p)
            else:
                for w in pretokenize(p):
                    ids.extend(self.vocab[s] for s in bpe_word(w, self.ranks))
        return ids

    def decode(self, ids):
        inv = {i: t for t, i in self.vocab.items()}
        inv.update({i: None for i in self.specials.values()})
        sinv = {i: s for s, i in self.specials.items()}
        out, buf = [], bytearray()
        for i in ids:
            if i in sinv:
                out.append(buf.decode("utf-8", errors="replace"))
                buf = bytearray()
                out.append(sinv[i])
            else:
                buf.extend(C2B[c] for c in inv[i])
        out.append(buf.decode("utf-8", errors="replace"))
        return "".join(out)


CORPUS = [
    "user interacted with: Toy Story (1995), Animation, Children's, Comedy; next:",
    "user interacted with: Star Wars (1977), Action, Adventure, Romance, Sci-Fi, War; next:",
    "user interacted with: Amélie (2001), Comedy, Romance; The Empire Strikes Back (1980); next:",
    "the user liked these movies because they are comedies and the story is good.",
    "Reason: the user watched many animation and adventure movies.",
]

TOKENIZER_CASES = [
    "Toy Story (1995), Animation, Children's, Comedy",
    "user interacted with: Star Wars (1977); next:",
    "Amélie (2001) – naïve café, Zoë's crème brûlée",
    "東京物語 (1953) 🎬 Ünïcödé",
    "  two  spaces\nand a newline\t tab",
    "it's they're we've I'm you'll he'd",
    "hello<|endoftext|>world",
]

# ----------------------------------------------------------------------------------------------------------
# SentencePiece (BPE type, byte fallback, LLaMA 2 / TinyLlama style), written as its protobuf ModelProto

SP_SPACE = "\u2581"


def sp_normalize(text):
    """LLaMA's normalizer: identity, spaces escaped as U+2581, a dummy prefix, extra whitespace kept."""
    return SP_SPACE + text.replace(" ", SP_SPACE)


class SentencePieceBpe:
    def __init__(self, corpus, merges):
        self.pieces = [("<unk>", 0.0, 2), ("<s>", 0.0, 3), ("</s>", 0.0, 3)]
        self.pieces += [("<0x%02X>" % b, 0.0, 6) for b in range(256)]
        words = {}
        for line in corpus:  # training splits at spaces: words are "\u2581word"
            for w in sp_normalize(line).split(SP_SPACE)[1:]:
                key = tuple(SP_SPACE + w)
                words[key] = words.get(key, 0) + 1
        chars = sorted({c for w in words for c in w})
        for rank in range(merges):
            pairs = {}
            for w, f in words.items():
                for p in zip(w, w[1:]):
                    pairs[p] = pairs.get(p, 0) + f
            if not pairs:
                break
            best = min(pairs, key=lambda p: (-pairs[p], p))
            self.pieces.append((best[0] + best[1], -float(rank), 1))
            new = {}
            for w, f in words.items():
                out, k = [], 0
                while k < len(w):
                    if k + 1 < len(w) and (w[k], w[k + 1]) == best:
                        out.append(w[k] + w[k + 1])
                        k += 2
                    else:
                        out.append(w[k])
                        k += 1
                new[tuple(out)] = new.get(tuple(out), 0) + f
            words = new
        known = {p[0] for p in self.pieces}
        for k, c in enumerate(chars):
            if c not in known:
                self.pieces.append((c, -1000.0 - k, 1))
        self.ids = {p[0]: i for i, p in enumerate(self.pieces)}
        self.score = {p[0]: p[1] for p in self.pieces if p[2] == 1}

    def encode(self, text):
        symbols = list(sp_normalize(text))
        while True:
            best = None
            for k in range(len(symbols) - 1):
                m = symbols[k] + symbols[k + 1]
                if m in self.score and (best is None or self.score[m] > best[0]):
                    best = (self.score[m], k)
            if best is None:
                break
            k = best[1]
            symbols[k:k + 2] = [symbols[k] + symbols[k + 1]]
        ids = []
        for sym in symbols:
            if sym in self.score:
                ids.append(self.ids[sym])
            else:
                ids.extend(3 + b for b in sym.encode("utf-8"))
        return ids

    def model_proto(self):
        def varint(n):
            out = bytearray()
            while True:
                b = n & 0x7F
                n >>= 7
                out.append(b | (0x80 if n else 0))
                if not n:
                    return bytes(out)

        def field(num, wire, payload):
            return varint(num << 3 | wire) + payload

        def string(num, text):
            data = text.encode("utf-8")
            return field(num, 2, varint(len(data)) + data)

        def integer(num, value):
            return field(num, 0, varint(value))

        out = bytearray()
        for piece, score, kind in self.pieces:
            body = string(1, piece) + field(2, 5, struct.pack("<f", score)) + integer(3, kind)
            out += field(1, 2, varint(len(body)) + body)
        trainer = (integer(3, 2) + integer(4, len(self.pieces)) + integer(35, 1) + integer(40, 0) + integer(41, 1)
                   + integer(42, 2) + field(43, 0, varint((1 << 64) - 1)) + string(45, "<unk>") + string(46, "<s>") + string(47, "</s>"))
        out += field(2, 2, varint(len(trainer)) + trainer)
        normalizer = string(1, "identity") + integer(3, 1) + integer(4, 0) + integer(5, 1)
        out += field(3, 2, varint(len(normalizer)) + normalizer)
        return bytes(out)

# ----------------------------------------------------------------------------------------------------------
# safetensors


def bf16_bits(t):
    """float32 -> bfloat16 bits, round to nearest even (the upper 16 bits of the rounded float32)."""
    bits = t.contiguous().view(torch.int32).to(torch.int64) & 0xFFFFFFFF
    rounded = bits + 0x7FFF + ((bits >> 16) & 1)
    return ((rounded >> 16) & 0xFFFF).to(torch.int32)


def to_bf16_values(t):
    """The float32 values that bfloat16 storage of t gives back."""
    return (bf16_bits(t.float()).to(torch.int64) << 16).to(torch.int32).view(torch.float32)


def write_safetensors(path, tensors, dtype="F32"):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().float().contiguous()
        if dtype == "F32":
            data = struct.pack("<%df" % t.numel(), *t.flatten().tolist())
        else:
            data = struct.pack("<%dH" % t.numel(), *bf16_bits(t).flatten().tolist())
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header["__metadata__"] = {"format": "pt"}
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * ((8 - len(raw) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for b in blobs:
            f.write(b)
    return offset

# ----------------------------------------------------------------------------------------------------------
# Reference models (float64, one sequence at a time)


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * w + b


def rms_norm(x, w, eps):
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * w


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def causal_attention(q, k, v):
    """q [H, T, d], k / v [H, T, d] -> [T, H * d], softmax over keys at or before each query."""
    T, d = q.shape[1], q.shape[2]
    out = torch.zeros(T, q.shape[0], d, dtype=q.dtype)
    for h in range(q.shape[0]):
        for t in range(T):
            s = (k[h, : t + 1] @ q[h, t]) / math.sqrt(d)
            p = torch.exp(s - s.max())
            p = p / p.sum()
            out[t, h] = p @ v[h, : t + 1]
    return out.reshape(T, -1)


def gpt2_logits(P, c, ids):
    T, H = len(ids), c["n_head"]
    d = c["n_embd"] // H
    ids = torch.tensor(ids)
    x = P["wte.weight"][ids] + P["wpe.weight"][torch.arange(T)]
    for l in range(c["n_layer"]):
        p = lambda n: P["h.%d.%s" % (l, n)]
        h = layer_norm(x, p("ln_1.weight"), p("ln_1.bias"), c["layer_norm_epsilon"])
        qkv = h @ p("attn.c_attn.weight") + p("attn.c_attn.bias")
        q, k, v = qkv.split(c["n_embd"], dim=1)
        heads = lambda z: z.reshape(T, H, d).transpose(0, 1)
        y = causal_attention(heads(q), heads(k), heads(v))
        x = x + y @ p("attn.c_proj.weight") + p("attn.c_proj.bias")
        h = layer_norm(x, p("ln_2.weight"), p("ln_2.bias"), c["layer_norm_epsilon"])
        x = x + gelu_tanh(h @ p("mlp.c_fc.weight") + p("mlp.c_fc.bias")) @ p("mlp.c_proj.weight") + p("mlp.c_proj.bias")
    x = layer_norm(x, P["ln_f.weight"], P["ln_f.bias"], c["layer_norm_epsilon"])
    return x @ P["wte.weight"].T


def rotate(x, positions, theta):
    """Rotary embedding, Hugging Face layout: dimension j pairs with j + d/2. x [heads, T, d]."""
    d = x.shape[-1]
    half = d // 2
    freq = 1.0 / (theta ** (torch.arange(0, half, dtype=torch.float64) * 2.0 / d))
    ang = positions.to(torch.float64)[:, None] * freq[None, :]
    cos, sin = torch.cos(ang), torch.sin(ang)
    a, b = x[..., :half], x[..., half:]
    return torch.cat([a * cos - b * sin, b * cos + a * sin], dim=-1)


def llama_logits(P, c, ids, qkv_bias):
    T, H, KV = len(ids), c["num_attention_heads"], c["num_key_value_heads"]
    d = c["hidden_size"] // H
    eps, theta = c["rms_norm_eps"], c["rope_theta"]
    pos = torch.arange(T)
    x = P["model.embed_tokens.weight"][torch.tensor(ids)]
    for l in range(c["num_hidden_layers"]):
        p = lambda n: P["model.layers.%d.%s" % (l, n)]
        h = rms_norm(x, p("input_layernorm.weight"), eps)
        def proj(name):
            y = h @ p("self_attn.%s_proj.weight" % name).T
            return y + p("self_attn.%s_proj.bias" % name) if qkv_bias else y
        q = rotate(proj("q").reshape(T, H, d).transpose(0, 1), pos, theta)
        k = rotate(proj("k").reshape(T, KV, d).transpose(0, 1), pos, theta)
        v = proj("v").reshape(T, KV, d).transpose(0, 1)
        group = H // KV
        k = torch.stack([k[h // group] for h in range(H)])  # query head h reads key / value head h // group
        v = torch.stack([v[h // group] for h in range(H)])
        x = x + causal_attention(q, k, v) @ p("self_attn.o_proj.weight").T
        h = rms_norm(x, p("post_attention_layernorm.weight"), eps)
        gate = h @ p("mlp.gate_proj.weight").T
        x = x + ((gate * torch.sigmoid(gate)) * (h @ p("mlp.up_proj.weight").T)) @ p("mlp.down_proj.weight").T
    x = rms_norm(x, P["model.norm.weight"], eps)
    head = P["model.embed_tokens.weight"] if c["tie_word_embeddings"] else P["lm_head.weight"]
    return x @ head.T

# ----------------------------------------------------------------------------------------------------------


def random_params(shapes, gen):
    P = {}
    for name, shape in shapes.items():
        if name.endswith("norm.weight") or name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or name.endswith("ln_f.weight"):
            P[name] = 1.0 + 0.1 * torch.randn(shape, generator=gen)
        else:
            P[name] = 0.15 * torch.randn(shape, generator=gen)
    return {k: v.float() for k, v in P.items()}


def gpt2_shapes(c):
    E, I, V = c["n_embd"], c["n_inner"], c["vocab_size"]
    s = {"wte.weight": (V, E), "wpe.weight": (c["n_positions"], E), "ln_f.weight": (E,), "ln_f.bias": (E,)}
    for l in range(c["n_layer"]):
        s.update({"h.%d.ln_1.weight" % l: (E,), "h.%d.ln_1.bias" % l: (E,), "h.%d.ln_2.weight" % l: (E,), "h.%d.ln_2.bias" % l: (E,),
                  "h.%d.attn.c_attn.weight" % l: (E, 3 * E), "h.%d.attn.c_attn.bias" % l: (3 * E,),
                  "h.%d.attn.c_proj.weight" % l: (E, E), "h.%d.attn.c_proj.bias" % l: (E,),
                  "h.%d.mlp.c_fc.weight" % l: (E, I), "h.%d.mlp.c_fc.bias" % l: (I,),
                  "h.%d.mlp.c_proj.weight" % l: (I, E), "h.%d.mlp.c_proj.bias" % l: (E,)})
    return s


def llama_shapes(c, qkv_bias):
    E, I, V = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    d = E // c["num_attention_heads"]
    kv = c["num_key_value_heads"] * d
    s = {"model.embed_tokens.weight": (V, E), "model.norm.weight": (E,)}
    if not c["tie_word_embeddings"]:
        s["lm_head.weight"] = (V, E)
    for l in range(c["num_hidden_layers"]):
        p = "model.layers.%d." % l
        s.update({p + "input_layernorm.weight": (E,), p + "post_attention_layernorm.weight": (E,),
                  p + "self_attn.q_proj.weight": (E, E), p + "self_attn.k_proj.weight": (kv, E),
                  p + "self_attn.v_proj.weight": (kv, E), p + "self_attn.o_proj.weight": (E, E),
                  p + "mlp.gate_proj.weight": (I, E), p + "mlp.up_proj.weight": (I, E), p + "mlp.down_proj.weight": (E, I)})
        if qkv_bias:
            s.update({p + "self_attn.q_proj.bias": (E,), p + "self_attn.k_proj.bias": (kv,), p + "self_attn.v_proj.bias": (kv,)})
    return s


def greedy(logits_fn, prompt, steps):
    ids, margins = list(prompt), []
    for _ in range(steps):
        last = logits_fn(ids)[-1]
        top = torch.topk(last, 2)
        margins.append(float(top.values[0] - top.values[1]))
        ids.append(int(top.indices[0]))
    return ids[len(prompt):], min(margins)


def write_expected(folder, logits_fn, bpe, seqs, pad, prompt, steps=8):
    """Logits of every sequence (right-padded to the longest with `pad`), greedy continuation of `prompt`."""
    T = max(len(s) for s in seqs)
    rows = []
    for s in seqs:
        l = logits_fn(s)
        full = torch.zeros(T, l.shape[1], dtype=torch.float64)
        full[: len(s)] = l
        rows.append(full)
    logits = torch.stack(rows)
    write_safetensors(os.path.join(folder, "expected.safetensors"), {"logits": logits})
    tokens, margin = greedy(logits_fn, prompt, steps)
    assert margin > 1e-3, "greedy steps too close to a tie: %g" % margin
    expected = {
        "input_ids": [s + [pad] * (T - len(s)) for s in seqs],
        "attention_mask": [[1] * len(s) + [0] * (T - len(s)) for s in seqs],
        "greedy_prompt": prompt, "greedy_tokens": tokens, "greedy_min_margin": margin,
        "tokenizer_cases": [{"text": t, "ids": bpe.encode(t)} for t in TOKENIZER_CASES],
    }
    with open(os.path.join(folder, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(expected, f, ensure_ascii=False, indent=1)
    return logits


def tokenizer_json(bpe, added, pattern):
    """A tokenizer.json as the Hugging Face tokenizers library writes one for a byte-level BPE (Qwen2 / Llama 3 style)."""
    return {
        "version": "1.0",
        "added_tokens": [{"id": i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": True} for s, i in added.items()],
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}]},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": bpe.vocab, "merges": [a + " " + b for a, b in bpe.merges]},
    }


GPT2_PATTERN = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"


def main():
    torch.set_num_threads(1)
    merges = train_merges(CORPUS, 48)

    # GPT-2: vocab.json + merges.txt, tied head, F32 model.safetensors.
    bpe = Bpe(merges, ["<|endoftext|>"])
    eot = bpe.specials["<|endoftext|>"]
    folder = os.path.join(OUT, "gpt2-tiny")
    os.makedirs(folder, exist_ok=True)
    c = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": bpe.size, "n_positions": 48,
         "n_embd": 32, "n_layer": 2, "n_head": 4, "n_inner": 64, "activation_function": "gelu_new",
         "layer_norm_epsilon": 1e-5, "bos_token_id": eot, "eos_token_id": eot, "tie_word_embeddings": True,
         "torch_dtype": "float32"}
    gen = torch.Generator().manual_seed(11)
    P = random_params(gpt2_shapes(c), gen)
    write_safetensors(os.path.join(folder, "model.safetensors"), P)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(c, f, indent=1)
    vocab = dict(bpe.vocab)
    vocab["<|endoftext|>"] = eot
    with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "".join(a + " " + b + "\n" for a, b in merges))
    P64 = {k: v.double() for k, v in P.items()}
    seqs = [bpe.encode("user interacted with: Toy Story (1995); next:"), bpe.encode("Amélie (2001), Comedy")]
    write_expected(folder, lambda ids: gpt2_logits(P64, c, ids), bpe, seqs, eot, bpe.encode("the user liked"))

    # Qwen2: tokenizer.json with added tokens, GQA, q/k/v bias, tied embeddings, vocab padded past the tokenizer.
    bpe = Bpe(merges, ["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
    folder = os.path.join(OUT, "qwen2-tiny")
    os.makedirs(folder, exist_ok=True)
    c = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "vocab_size": bpe.size + 13,
         "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2, "num_attention_heads": 4,
         "num_key_value_heads": 2, "max_position_embeddings": 64, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
         "hidden_act": "silu", "tie_word_embeddings": True, "bos_token_id": bpe.specials["<|endoftext|>"],
         "eos_token_id": bpe.specials["<|im_end|>"], "torch_dtype": "float32", "use_sliding_window": False}
    gen = torch.Generator().manual_seed(12)
    P = random_params(llama_shapes(c, qkv_bias=True), gen)
    write_safetensors(os.path.join(folder, "model.safetensors"), P)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(c, f, indent=1)
    with open(os.path.join(folder, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tokenizer_json(bpe, bpe.specials, GPT2_PATTERN), f, ensure_ascii=False)
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
        json.dump({"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>", "bos_token": None}, f)
    P64 = {k: v.double() for k, v in P.items()}
    pad = bpe.specials["<|endoftext|>"]
    seqs = [bpe.encode("user interacted with: Star Wars (1977), Action; next:"), bpe.encode("東京 🎬 café")]
    write_expected(folder, lambda ids: llama_logits(P64, c, ids, True), bpe, seqs, pad, bpe.encode("Reason: the user"))

    # LLaMA (Llama 3 style byte-level tokenizer.json): untied head, GQA, no bias, BF16 in two shards.
    bpe = Bpe(merges, ["<|begin_of_text|>", "<|end_of_text|>"])
    folder = os.path.join(OUT, "llama-tiny-bf16-sharded")
    os.makedirs(folder, exist_ok=True)
    c = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": bpe.size,
         "hidden_size": 32, "intermediate_size": 40, "num_hidden_layers": 2, "num_attention_heads": 4,
         "num_key_value_heads": 1, "max_position_embeddings": 64, "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
         "hidden_act": "silu", "tie_word_embeddings": False, "attention_bias": False, "mlp_bias": False,
         "bos_token_id": bpe.specials["<|begin_of_text|>"], "eos_token_id": bpe.specials["<|end_of_text|>"],
         "torch_dtype": "bfloat16", "rope_scaling": None}
    gen = torch.Generator().manual_seed(13)
    P = {k: to_bf16_values(v) for k, v in random_params(llama_shapes(c, qkv_bias=False), gen).items()}
    names = sorted(P)
    shards = [names[: len(names) // 2], names[len(names) // 2:]]
    weight_map, total = {}, 0
    for k, part in enumerate(shards):
        fname = "model-%05d-of-%05d.safetensors" % (k + 1, len(shards))
        total += write_safetensors(os.path.join(folder, fname), {n: P[n] for n in part}, dtype="BF16")
        weight_map.update({n: fname for n in part})
    with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=1)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(c, f, indent=1)
    with open(os.path.join(folder, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tokenizer_json(bpe, bpe.specials, GPT2_PATTERN), f, ensure_ascii=False)
    P64 = {k: v.double() for k, v in P.items()}
    bos = bpe.specials["<|begin_of_text|>"]
    seqs = [[bos] + bpe.encode("user interacted with: Amélie (2001); next:"), [bos] + bpe.encode("Toy Story")]
    write_expected(folder, lambda ids: llama_logits(P64, c, ids, False), bpe, seqs, bpe.specials["<|end_of_text|>"],
                   [bos] + bpe.encode("the story is"))

    # A SentencePiece tokenizer.model (LLaMA 2 / TinyLlama style: BPE, byte fallback), tokenizer only.
    sp = SentencePieceBpe(CORPUS, 40)
    folder = os.path.join(OUT, "sentencepiece-tokenizer")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "tokenizer.model"), "wb") as f:
        f.write(sp.model_proto())
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump({"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": len(sp.pieces), "hidden_size": 8,
                   "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1,
                   "bos_token_id": 1, "eos_token_id": 2}, f, indent=1)
    with open(os.path.join(folder, "expected.json"), "w", encoding="utf-8") as f:
        json.dump({"tokenizer_cases": [{"text": t, "ids": sp.encode(t)} for t in TOKENIZER_CASES[:5]]}, f, ensure_ascii=False, indent=1)

    # The tokenizer itself: decode(encode(text)) == text for every case.
    for t in TOKENIZER_CASES:
        assert bpe.decode(bpe.encode(t)) == t, t
    print("wrote", OUT)


if __name__ == "__main__":
    main()
