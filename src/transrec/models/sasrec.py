"""SASRec user encoder: a causal post-LN Transformer over item embeddings (PROTOCOL.md §Model)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LN_EPS = 1e-6  # the reference's LayerNorm eps


class SelfAttention(nn.Module):
    """Multi-head self-attention with bias-free Q/K/V/O, named like HF so PEFT can target `query`/`value`."""

    def __init__(self, d_model: int, n_heads: int, dropout: float):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        self.n_heads = n_heads
        self.dropout = dropout
        self.query = nn.Linear(d_model, d_model, bias=False)
        self.key = nn.Linear(d_model, d_model, bias=False)
        self.value = nn.Linear(d_model, d_model, bias=False)
        self.output = nn.Linear(d_model, d_model, bias=False)  # Houlsby adapters wrap this layer

    def forward(self, hidden: Tensor, attn_mask: Tensor) -> Tensor:
        """hidden (B, L, d), attn_mask (B, 1, L, L) bool, True = may attend -> (B, L, d)."""
        b, seq_len, d = hidden.shape
        q, k, v = (self._split_heads(layer(hidden)) for layer in (self.query, self.key, self.value))  # (B, H, L, d/H)
        p = self.dropout if self.training else 0.0
        context = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=p)  # (B, H, L, d/H)
        return self.output(context.transpose(1, 2).reshape(b, seq_len, d))  # (B, L, d)

    def _split_heads(self, x: Tensor) -> Tensor:
        """(B, L, d) -> (B, H, L, d/H)."""
        b, seq_len, d = x.shape
        return x.view(b, seq_len, self.n_heads, d // self.n_heads).transpose(1, 2)


class FeedForward(nn.Module):
    """Position-wise FFN d -> 4d -> d with ReLU; dropout after the activation as in the reference."""

    def __init__(self, d_model: int, d_inner: int, dropout: float):
        super().__init__()
        self.intermediate = nn.Linear(d_model, d_inner)
        self.activation = nn.ReLU()
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(d_inner, d_model)  # Houlsby adapters wrap this layer

    def forward(self, hidden: Tensor) -> Tensor:
        """hidden (B, L, d) -> (B, L, d)."""
        return self.output(self.dropout(self.activation(self.intermediate(hidden))))


class SASRecBlock(nn.Module):
    """One post-LN block: LN(x + drop(attention(x))), then LN(h + drop(ffn(h)))."""

    def __init__(self, d_model: int, n_heads: int, dropout: float):
        super().__init__()
        self.attention = SelfAttention(d_model, n_heads, dropout)
        self.attention_dropout = nn.Dropout(dropout)
        self.attention_norm = nn.LayerNorm(d_model, eps=LN_EPS)
        self.ffn = FeedForward(d_model, 4 * d_model, dropout)
        self.ffn_dropout = nn.Dropout(dropout)
        self.ffn_norm = nn.LayerNorm(d_model, eps=LN_EPS)

    def forward(self, hidden: Tensor, attn_mask: Tensor) -> Tensor:
        """hidden (B, L, d), attn_mask (B, 1, L, L) bool -> (B, L, d)."""
        hidden = self.attention_norm(hidden + self.attention_dropout(self.attention(hidden, attn_mask)))
        return self.ffn_norm(hidden + self.ffn_dropout(self.ffn(hidden)))


class SASRec(nn.Module):
    """Self-attentive sequential recommender (Kang & McAuley, 2018) as configured in Adapter4Rec/IISAN."""

    def __init__(self, d_model: int = 64, max_len: int = 20, n_blocks: int = 2, n_heads: int = 2, dropout: float = 0.1):
        super().__init__()
        self.d_model = d_model
        self.max_len = max_len
        self.position_embedding = nn.Embedding(max_len, d_model)
        self.input_norm = nn.LayerNorm(d_model, eps=LN_EPS)
        self.input_dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(SASRecBlock(d_model, n_heads, dropout) for _ in range(n_blocks))
        self.side: nn.Module | None = None  # (states, hidden, mask) -> hidden; set by K-Adapter
        self.apply(_init_weights)

    def forward(self, item_emb: Tensor, mask: Tensor) -> Tensor:
        """item_emb (B, L, d), mask (B, L) bool, True = real item (left padding) -> user states (B, L, d)."""
        states = self.block_states(item_emb, mask)
        if self.side is None:
            return states[-1]
        return self.side(dict(enumerate(states)), states[-1], mask)  # (B, L, d)

    def block_states(self, item_emb: Tensor, mask: Tensor) -> list[Tensor]:
        """item_emb (B, L, d), mask (B, L) -> [input state, output of block 1, ..., of block n], each (B, L, d)."""
        b, seq_len, _ = item_emb.shape
        if seq_len > self.max_len:
            raise ValueError(f"sequence length {seq_len} exceeds max_len {self.max_len}")
        # right-aligned positions: with left padding the newest item always gets position max_len - 1
        positions = torch.arange(self.max_len - seq_len, self.max_len, device=item_emb.device)  # (L,)
        hidden = self.input_dropout(self.input_norm(item_emb + self.position_embedding(positions)))  # (B, L, d)
        attn_mask = attention_mask(mask)  # (B, 1, L, L)
        states = [hidden]
        for block in self.blocks:
            states.append(block(states[-1], attn_mask))
        return states

    def model_type(self) -> str:
        """The site map's key."""
        return "sasrec"


def attention_mask(mask: Tensor) -> Tensor:
    """mask (B, L) bool -> (B, 1, L, L) bool: query t sees real keys <= t, and always itself."""
    seq_len = mask.shape[1]
    causal = torch.ones(seq_len, seq_len, dtype=torch.bool, device=mask.device).tril()  # (L, L)
    eye = torch.eye(seq_len, dtype=torch.bool, device=mask.device)
    # the diagonal keeps rows of padding queries non-empty (an all-False row makes SDPA return NaN);
    # real queries never see padding keys, so padding outputs cannot leak into real ones
    return (causal & (mask[:, None, :] | eye))[:, None]  # (B, 1, L, L)


def _init_weights(module: nn.Module) -> None:
    """Xavier-normal weights, zero biases (the reference's `_init_weights`); LayerNorm keeps ones/zeros."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.xavier_normal_(module.weight)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)


def sasrec_parameter_count(d_model: int, max_len: int, n_blocks: int) -> int:
    """Closed-form parameter count: positions + input LN + per block (QKVO, 2 LN, FFN with biases)."""
    attention = 4 * d_model**2 + 2 * d_model  # Q/K/V/O without bias, LayerNorm
    ffn = (d_model * 4 * d_model + 4 * d_model) + (4 * d_model * d_model + d_model) + 2 * d_model  # in, out, LayerNorm
    per_block = attention + ffn
    return max_len * d_model + 2 * d_model + n_blocks * per_block
