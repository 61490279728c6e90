#!/usr/bin/env python3
"""Reference for `bridgerec bench sasrec`: the same SASRec in plain PyTorch, timed per training epoch on the CPU.

Reads the training sequences that `bridgerec bench sasrec --sequences-out FILE` writes (first line `items N`, then
one user a line, item ids in time order), and trains what BridgeRec's SasRec trains: item embeddings used at the
input and as the output layer, learned positions counted from the oldest item read, pre-norm blocks (causal
multi-head attention, GELU feed-forward), dropout, a final layer norm; softmax cross-entropy over all items at every
position. Each sequence is cut from its newest item back into windows of at most max_len + 1 items; a batch is
`--batch` windows. `--pad same` orders windows by length and pads each batch to its longest (what BridgeRec does);
`--pad full` pads every window to max_len in random batches (what RecBole and the SASRec reference code do).
Prints one JSON line with the seconds of each epoch. Product code stays C#; this is a reference only.

`--ctr` times the click-through variant instead (`bridgerec bench sasrec --ctr --rows-out FILE` writes its input:
first line `items N`, then one labelled training row a line: label, candidate, the history's item ids). Each row is
one sequence, its latest max_len history items left-padded to the batch's longest; the hidden state at the newest
item is dotted with the candidate's row, plus one learned offset, under BCE; batches of random rows.

Debian: apt-get install python3-torch libopenblas0-pthread   (without OpenBLAS torch uses the slow reference BLAS)
Usage: /usr/bin/python3 bench/sasrec_torch.py SEQUENCES.txt [--epochs 3] [--batch 128] [--dim 64] [--threads 2]
       /usr/bin/python3 bench/sasrec_torch.py ROWS.txt --ctr --max-len 20 --batch 1024 [--epochs 3]
"""
import argparse, json, math, random, time
import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, dim, heads, inner, dropout):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.attention_norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.projection = nn.Linear(dim, dim)
        self.ffn_norm = nn.LayerNorm(dim)
        self.up = nn.Linear(dim, inner)
        self.down = nn.Linear(inner, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, keep):
        b, length, dim = x.shape
        q, k, v = self.qkv(self.attention_norm(x)).view(b, length, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        # torch 1.13 has no scaled_dot_product_attention: the textbook form.
        att = (q @ k.transpose(-2, -1)) / math.sqrt(dim // self.heads)
        att = F.dropout(att.masked_fill(~keep, float('-inf')).softmax(-1), self.dropout, self.training)
        context = (att @ v).transpose(1, 2).reshape(b, length, dim)
        x = x + self.drop(self.projection(context))
        return x + self.drop(self.down(self.drop(F.gelu(self.up(self.ffn_norm(x))))))


class SasRec(nn.Module):
    def __init__(self, n_items, dim, max_len, layers, heads, inner, dropout):
        super().__init__()
        self.items = nn.Parameter(torch.randn(n_items, dim) * 0.1)  # the shared module's table (std 0.1 as ours)
        self.positions = nn.Embedding(max_len, dim)
        self.blocks = nn.ModuleList([Block(dim, heads, inner, dropout) for _ in range(layers)])
        self.final_norm = nn.LayerNorm(dim)
        self.input_dropout = nn.Dropout(dropout)
        for name, p in self.named_parameters():
            if name == 'items':
                continue
            if name.endswith('norm.weight'):
                nn.init.ones_(p)
            elif name.endswith('.bias'):
                nn.init.zeros_(p)
            else:
                nn.init.normal_(p, 0, 0.02)

    def forward(self, items, is_item, positions):
        length = items.shape[1]
        x = self.items[items] + self.positions(positions)
        mask = is_item.unsqueeze(-1).float()
        x = self.input_dropout(x) * mask
        causal = torch.ones(length, length, dtype=torch.bool).tril()
        keep = ((causal & is_item.unsqueeze(1)) | torch.eye(length, dtype=torch.bool)).unsqueeze(1)
        for block in self.blocks:
            x = block(x, keep) * mask
        return self.final_norm(x) * mask


def windows_of(sequences, max_len):
    span = max_len + 1
    out = []
    for u, s in enumerate(sequences):
        end = len(s)
        while end >= 2:
            out.append((u, max(0, end - span), end))
            end -= span - 1
    return out


def batch_tensors(sequences, windows, length):
    n = len(windows)
    items = torch.zeros(n, length, dtype=torch.long)
    is_item = torch.zeros(n, length, dtype=torch.bool)
    positions = torch.zeros(n, length, dtype=torch.long)
    at, targets = [], []
    for r, (u, start, end) in enumerate(windows):
        inputs = sequences[u][start:end - 1]
        pad = length - len(inputs)
        items[r, pad:] = torch.tensor(inputs)
        is_item[r, pad:] = True
        positions[r, pad:] = torch.arange(len(inputs))
        at.extend(r * length + pad + j for j in range(len(inputs)))
        targets.extend(sequences[u][start + 1:end])
    return items, is_item, positions, torch.tensor(at), torch.tensor(targets)


def ctr_batch(rows, which, max_len):
    histories = [rows[r][2][-max_len:] for r in which]
    length = max(1, max(len(h) for h in histories))
    n = len(which)
    items = torch.zeros(n, length, dtype=torch.long)
    is_item = torch.zeros(n, length, dtype=torch.bool)
    positions = torch.zeros(n, length, dtype=torch.long)
    for k, h in enumerate(histories):
        if h:
            pad = length - len(h)
            items[k, pad:] = torch.tensor(h)
            is_item[k, pad:] = True
            positions[k, pad:] = torch.arange(len(h))
    candidates = torch.tensor([rows[r][1] for r in which])
    labels = torch.tensor([float(rows[r][0]) for r in which])
    return items, is_item, positions, candidates, labels


def run_ctr(a, rng):
    with open(a.sequences) as f:
        n_items = int(f.readline().split()[1])
        rows = []
        for line in f:
            v = [int(x) for x in line.split()]
            rows.append((v[0], v[1], v[2:]))
    model = SasRec(n_items, a.dim, a.max_len, a.layers, a.heads, a.inner, a.dropout)
    offset = nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam(list(model.parameters()) + [offset], lr=a.lr)
    seconds, losses = [], []
    for epoch in range(a.epochs):
        clock = time.perf_counter()
        order = list(range(len(rows)))
        rng.shuffle(order)
        model.train()
        total, batches = 0.0, 0
        for i in range(0, len(order), a.batch):
            items, is_item, positions, candidates, labels = ctr_batch(rows, order[i:i + a.batch], a.max_len)
            hidden = model(items, is_item, positions)[:, -1]
            logits = (hidden * model.items[candidates]).sum(-1) + offset
            loss = F.binary_cross_entropy_with_logits(logits, labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item()
            batches += 1
        seconds.append(time.perf_counter() - clock)
        losses.append(total / batches)
    print(json.dumps({
        'model': 'sasrec click-through (PyTorch %s)' % torch.__version__, 'items': n_items, 'rows': len(rows),
        'history_items_read': sum(min(len(h), a.max_len) for _, _, h in rows), 'batch': a.batch, 'dim': a.dim,
        'layers': a.layers, 'heads': a.heads, 'inner': a.inner, 'max_len': a.max_len, 'dropout': a.dropout,
        'threads': torch.get_num_threads(), 'epoch_seconds': [round(s, 3) for s in seconds],
        'sec_per_epoch_median': round(sorted(seconds)[len(seconds) // 2], 3), 'loss': [round(x, 4) for x in losses],
    }))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('sequences')
    ap.add_argument('--epochs', type=int, default=3)
    ap.add_argument('--batch', type=int, default=128)
    ap.add_argument('--dim', type=int, default=64)
    ap.add_argument('--max-len', type=int, default=50)
    ap.add_argument('--layers', type=int, default=2)
    ap.add_argument('--heads', type=int, default=2)
    ap.add_argument('--inner', type=int, default=256)
    ap.add_argument('--dropout', type=float, default=0.5)
    ap.add_argument('--lr', type=float, default=0.001)
    ap.add_argument('--pad', choices=['same', 'full'], default='same')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--seed', type=int, default=2020)
    ap.add_argument('--ctr', action='store_true', help='click-through rows (bridgerec bench sasrec --ctr --rows-out)')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = random.Random(a.seed)
    if a.ctr:
        return run_ctr(a, rng)
    with open(a.sequences) as f:
        n_items = int(f.readline().split()[1])
        sequences = [[int(x) for x in line.split()] for line in f]
    windows = windows_of(sequences, a.max_len)
    model = SasRec(n_items, a.dim, a.max_len, a.layers, a.heads, a.inner, a.dropout)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    seconds, losses = [], []
    for epoch in range(a.epochs):
        clock = time.perf_counter()
        order = list(range(len(windows)))
        rng.shuffle(order)
        if a.pad == 'same':
            order.sort(key=lambda w: windows[w][2] - windows[w][1])
        batches = [order[i:i + a.batch] for i in range(0, len(order), a.batch)]
        rng.shuffle(batches)
        model.train()
        total = 0.0
        for b in batches:
            ws = [windows[w] for w in b]
            length = a.max_len if a.pad == 'full' else max(e - s - 1 for _, s, e in ws)
            items, is_item, positions, at, targets = batch_tensors(sequences, ws, length)
            hidden = model(items, is_item, positions)
            h = hidden.reshape(-1, a.dim)[at]
            loss = F.cross_entropy(h @ model.items.t(), targets)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item()
        seconds.append(time.perf_counter() - clock)
        losses.append(total / len(batches))
    print(json.dumps({
        'model': 'sasrec (PyTorch %s)' % torch.__version__, 'items': n_items, 'windows': len(windows),
        'targets': sum(max(0, len(s) - 1) for s in sequences), 'batch': a.batch, 'dim': a.dim, 'layers': a.layers,
        'heads': a.heads, 'inner': a.inner, 'max_len': a.max_len, 'dropout': a.dropout, 'pad': a.pad,
        'threads': torch.get_num_threads(), 'epoch_seconds': [round(s, 3) for s in seconds],
        'sec_per_epoch_median': round(sorted(seconds)[len(seconds) // 2], 3), 'loss': [round(x, 4) for x in losses],
    }))


if __name__ == '__main__':
    main()
