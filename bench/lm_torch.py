#!/usr/bin/env python3
"""Cross-check of `bridgerec bench lm`: the same BERT architecture with the same weights in PyTorch.

Reads the weights that `bridgerec bench lm --save-weights FILE` writes (safetensors, F32), builds a
small post-LayerNorm BERT of our own (no transformers package needed), and times on the CPU:
frozen forward, LoRA (rank 8 on query and value) forward + backward + AdamW step, and full
fine-tuning forward + backward + AdamW step, at the given batch x sequence length.
Prints one JSON line with tokens per second. Product code stays C#; this is a reference only.

Debian: apt-get install python3-torch libopenblas0-pthread   (without OpenBLAS torch uses the slow reference BLAS)
Usage: python3 bench/lm_torch.py WEIGHTS.safetensors [--batch 32] [--seq 128] [--steps 5] [--threads 2]
"""
import argparse, json, math, struct, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_safetensors(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == '__metadata__':
            continue
        assert e['dtype'] == 'F32', e['dtype']
        b, end = e['data_offsets']
        out[name] = torch.from_numpy(np.frombuffer(data[b:end], dtype='<f4').reshape(e['shape']).copy())
    return out


class Lora(nn.Module):
    def __init__(self, base, r, alpha):
        super().__init__()
        self.base = base
        self.a = nn.Parameter(torch.empty(r, base.in_features))
        nn.init.kaiming_uniform_(self.a, a=math.sqrt(5))
        self.b = nn.Parameter(torch.zeros(base.out_features, r))
        self.scale = alpha / r

    def forward(self, x):
        return self.base(x) + F.linear(F.linear(x, self.a), self.b) * self.scale


class Layer(nn.Module):
    def __init__(self, h, heads, ffn, eps):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.o = (nn.Linear(h, h) for _ in range(4))
        self.ln1 = nn.LayerNorm(h, eps=eps)
        self.ff1, self.ff2 = nn.Linear(h, ffn), nn.Linear(ffn, h)
        self.ln2 = nn.LayerNorm(h, eps=eps)

    def forward(self, x, bias):
        b, s, h = x.shape
        d = h // self.heads
        split = lambda t: t.view(b, s, self.heads, d).transpose(1, 2)
        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        att = (q @ k.transpose(-1, -2)) / math.sqrt(d) + bias
        ctx = (att.softmax(-1) @ v).transpose(1, 2).reshape(b, s, h)
        x = self.ln1(self.o(ctx) + x)
        return self.ln2(self.ff2(F.gelu(self.ff1(x))) + x)


class Bert(nn.Module):
    def __init__(self, w, heads=12, eps=1e-12):
        super().__init__()
        vocab, h = w['embeddings.word_embeddings.weight'].shape
        n_layers = 1 + max(int(k.split('.')[2]) for k in w if k.startswith('encoder.layer.'))
        ffn = w['encoder.layer.0.intermediate.dense.weight'].shape[0]
        self.word = nn.Embedding(vocab, h)
        self.pos = nn.Embedding(w['embeddings.position_embeddings.weight'].shape[0], h)
        self.typ = nn.Embedding(w['embeddings.token_type_embeddings.weight'].shape[0], h)
        self.ln = nn.LayerNorm(h, eps=eps)
        self.layers = nn.ModuleList(Layer(h, heads, ffn, eps) for _ in range(n_layers))
        with torch.no_grad():
            self.word.weight.copy_(w['embeddings.word_embeddings.weight'])
            self.pos.weight.copy_(w['embeddings.position_embeddings.weight'])
            self.typ.weight.copy_(w['embeddings.token_type_embeddings.weight'])
            self.ln.weight.copy_(w['embeddings.LayerNorm.weight']); self.ln.bias.copy_(w['embeddings.LayerNorm.bias'])
            for i, L in enumerate(self.layers):
                p = f'encoder.layer.{i}.'
                for mod, name in ((L.q, 'attention.self.query'), (L.k, 'attention.self.key'), (L.v, 'attention.self.value'),
                                  (L.o, 'attention.output.dense'), (L.ff1, 'intermediate.dense'), (L.ff2, 'output.dense')):
                    mod.weight.copy_(w[p + name + '.weight']); mod.bias.copy_(w[p + name + '.bias'])
                for mod, name in ((L.ln1, 'attention.output.LayerNorm'), (L.ln2, 'output.LayerNorm')):
                    mod.weight.copy_(w[p + name + '.weight']); mod.bias.copy_(w[p + name + '.bias'])

    def forward(self, ids, mask):
        s = ids.shape[1]
        x = self.word(ids) + self.pos(torch.arange(s).unsqueeze(0)) + self.typ(torch.zeros_like(ids))
        x = self.ln(x)
        bias = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        for L in self.layers:
            x = L(x, bias)
        return x


def tokens_per_s(fn, tokens, steps):
    fn()  # warm-up
    t = time.perf_counter()
    for _ in range(steps):
        fn()
    return tokens * steps / (time.perf_counter() - t)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('weights')
    ap.add_argument('--batch', type=int, default=32)
    ap.add_argument('--seq', type=int, default=128)
    ap.add_argument('--steps', type=int, default=5)
    ap.add_argument('--threads', type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    w = read_safetensors(a.weights)
    ids = torch.randint(1000, 30000, (a.batch, a.seq))
    mask = torch.ones_like(ids)
    tokens = a.batch * a.seq

    model = Bert(w).eval()
    def frozen():
        with torch.no_grad():
            model(ids, mask)
    r = {'frozen_fwd_tokens_per_s': tokens_per_s(frozen, tokens, a.steps)}

    lora = Bert(w)
    for p in lora.parameters():
        p.requires_grad_(False)
    for L in lora.layers:
        L.q, L.v = Lora(L.q, 8, 16), Lora(L.v, 8, 16)
    opt = torch.optim.AdamW([p for p in lora.parameters() if p.requires_grad], lr=1e-4)
    def lora_step():
        opt.zero_grad(); lora(ids, mask).pow(2).mean().backward(); opt.step()
    r['lora_fwd_bwd_tokens_per_s'] = tokens_per_s(lora_step, tokens, a.steps)

    full = Bert(w)
    opt2 = torch.optim.AdamW(full.parameters(), lr=1e-5)
    def full_step():
        opt2.zero_grad(); full(ids, mask).pow(2).mean().backward(); opt2.step()
    r['full_fwd_bwd_tokens_per_s'] = tokens_per_s(full_step, tokens, a.steps)
    r = {k: round(v, 1) for k, v in r.items()}
    r.update(torch=torch.__version__, threads=a.threads, batch=a.batch, seq=a.seq)
    print(json.dumps(r))


if __name__ == '__main__':
    main()
