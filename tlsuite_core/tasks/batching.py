"""Batched inference input: sequences sorted by length, each batch padded only to its own longest sequence."""

from __future__ import annotations

from typing import Any, Iterator, Sequence

import numpy as np


def length_sorted_batches(
    input_ids: Sequence[Sequence[int]],
    token_type_ids: Sequence[Sequence[int]] | None,
    *,
    pad_id: int,
    batch_size: int,
    device: Any,
) -> Iterator[tuple[np.ndarray, np.ndarray, dict[str, Any]]]:
    """Yield ``(indices, lengths, batch)``: the original indices of the batch's sequences (longest first), their
    lengths, and the model inputs (``input_ids``, ``attention_mask`` and ``token_type_ids`` when given)."""
    import torch

    lengths = np.fromiter((len(x) for x in input_ids), dtype=np.int64, count=len(input_ids))
    order = np.argsort(-lengths, kind="stable")
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        width = int(lengths[idx[0]])
        ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(idx), width), dtype=torch.long)
        types = torch.zeros((len(idx), width), dtype=torch.long) if token_type_ids is not None else None
        for row, i in enumerate(idx):
            n = int(lengths[i])
            ids[row, :n] = torch.tensor(input_ids[i])
            mask[row, :n] = 1
            if types is not None:
                types[row, :n] = torch.tensor(token_type_ids[i])
        batch = {"input_ids": ids.to(device), "attention_mask": mask.to(device)}
        if types is not None:
            batch["token_type_ids"] = types.to(device)
        yield idx, lengths[idx], batch
