"""A plain eager PyTorch implementation of a gene's model, the yardstick of `step_time.py`.

What a careful user would write without this project: nn.Linear projections, the additive similarity's
whole (B, H, T, T, d) tensor, F.softmax (sort-based sparsemax), logits then cross-entropy, AdamW's default
(per-parameter) loop. The same architecture and parameter count as `build_model(gene)` for the four
original components (similarity, normalization, gating, temperature); nothing here is tuned.
"""
import math
import torch
import torch.nn as nn
import torch.nn.functional as F

def sparsemax(s):
    "Textbook sparsemax over the last dim (Martins & Astudillo 2016), by a full sort; autograd does the backward."
    z = s.sort(-1, descending=True).values
    k = torch.arange(1, s.shape[-1] + 1, device=s.device, dtype=s.dtype)
    cum = z.cumsum(-1)
    support = (1 + k * z > cum)
    n = support.sum(-1, keepdim=True)
    tau = (cum.gather(-1, n - 1) - 1) / n
    return torch.clamp(s - tau, min=0)

NORMALIZE = dict(softmax=lambda s: F.softmax(s, -1), sparsemax=sparsemax, sigmoid=torch.sigmoid,
                 relu_norm=lambda s: F.relu(s) / (F.relu(s).sum(-1, keepdim=True) + 1e-6))

class Attention(nn.Module):
    "Causal multi-head attention with a gene's similarity, normalization, gate and temperature."
    def __init__(self, gene, C, H):
        super().__init__()
        self.sim, self.norm, self.gate, self.temp = gene.similarity, gene.normalization, gene.gating, gene.temperature
        self.H, self.hs = H, C // H
        self.q, self.k, self.v, self.o = (nn.Linear(C, C) for _ in range(4))
        hs = self.hs
        if self.sim == 'multiplicative': self.W = nn.Parameter(torch.eye(hs).repeat(H, 1, 1))
        if self.sim == 'additive':
            self.Wq = nn.Parameter(torch.randn(H, hs, hs) / math.sqrt(hs))
            self.Wk = nn.Parameter(torch.randn(H, hs, hs) / math.sqrt(hs))
            self.va = nn.Parameter(torch.randn(H, hs))
        if self.gate != 'none': self.g = nn.Linear(C, C)
        if self.temp == 'learned': self.tau = nn.Parameter(torch.full((1, H, 1, 1), hs ** -0.5))
        if self.temp == "adaptive": self.tw = nn.Linear(C, H)

    def scores(self, q, k):
        if self.sim == 'dot': return q @ k.transpose(-2, -1)
        if self.sim == 'multiplicative': return q @ self.W @ k.transpose(-2, -1)
        if self.sim == 'cosine': return F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).transpose(-2, -1) * self.hs
        h = torch.tanh((q @ self.Wq).unsqueeze(3) + (k @ self.Wk).unsqueeze(2))      # (B, H, T, T, hs)
        return (h * self.va.view(1, self.H, 1, 1, self.hs)).sum(-1)

    def forward(self, x):
        B, T, C = x.shape
        h = x * torch.sigmoid(self.g(x)) if self.gate == 'input_gate' else x
        q, k, v = (f(h).view(B, T, self.H, self.hs).transpose(1, 2) for f in (self.q, self.k, self.v))
        s = self.scores(q, k)
        if self.temp == 'fixed': s = s * self.hs ** -0.5
        elif self.temp == 'learned': s = s * self.tau
        else: s = s * (F.softplus(self.tw(x) + math.log(math.e - 1)) * self.hs ** -0.5).transpose(1, 2).unsqueeze(-1)
        s = s.masked_fill(torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1), float('-inf'))
        y = (NORMALIZE[self.norm](s) @ v).transpose(1, 2).reshape(B, T, C)
        o = self.o(y)
        if self.gate == 'output_gate': o = o * torch.sigmoid(self.g(x))
        if self.gate == 'highway':
            g = torch.sigmoid(self.g(x)); o = g * o + (1 - g) * x
        return o

class Block(nn.Module):
    def __init__(self, gene, C, H, dropout):
        super().__init__()
        self.ln1, self.ln2, self.attn = nn.LayerNorm(C), nn.LayerNorm(C), Attention(gene, C, H)
        self.mlp = nn.Sequential(nn.Linear(C, 4 * C), nn.GELU(), nn.Linear(4 * C, C), nn.Dropout(dropout))
        self.drop = nn.Dropout(dropout)
    def forward(self, x):
        x = x + self.drop(self.attn(self.ln1(x)))
        return x + self.mlp(self.ln2(x))

class PlainLM(nn.Module):
    "Token and position embeddings, pre-LN blocks, final LayerNorm, tied output layer."
    def __init__(self, gene, cfg):
        super().__init__()
        C, V = cfg.d_model, cfg.vocab_size
        self.tok, self.pos = nn.Embedding(V, C), nn.Embedding(cfg.max_seq_len, C)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(gene, C, cfg.n_heads, cfg.dropout) for _ in range(cfg.n_layers))
        self.ln = nn.LayerNorm(C)
        self.head = nn.Linear(C, V, bias=False); self.head.weight = self.tok.weight
    def forward(self, idx):
        x = self.drop(self.tok(idx) + self.pos(torch.arange(idx.shape[1], device=idx.device)))
        for b in self.blocks: x = b(x)
        return self.head(self.ln(x))

def plain_step(gene, cfg):
    "One training step of the plain model (forward, cross-entropy, backward, clipping, default AdamW) on a batch (B, T+1)."
    torch.manual_seed(0)
    model = PlainLM(gene, cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    def step(x):
        logits = model(x[:, :-1])
        loss = F.cross_entropy(logits.flatten(0, 1), x[:, 1:].flatten())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step(); opt.zero_grad(set_to_none=True)
        return loss
    return step, model
