"""A tiny recommendation data set: users who each prefer one genre, items named after their genre's words."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

GENRES = {
    "Comedy": ["profit", "rose", "growth"],
    "Drama": ["loss", "fell", "layoffs"],
    "Horror": ["board", "meeting", "annual"],
}


def write_fixture(
    folder: Path, *, users: int = 24, items: int = 45, per_user: int = 10, seed: int = 0
) -> dict[str, Path]:
    """``items.jsonl`` (id, title, categories) and ``interactions.csv`` (user, item, rating, timestamp)."""
    rng = random.Random(seed)
    names = list(GENRES)
    catalogue = []
    for i in range(items):
        genre = names[i % 3]
        catalogue.append(
            {"id": str(i + 1), "title": " ".join(rng.sample(GENRES[genre], 2)) + f" w{i % 60}", "categories": [genre]}
        )
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "items.jsonl").open("w", encoding="utf-8") as fh:
        for row in catalogue:
            fh.write(json.dumps(row) + "\n")
    with (folder / "interactions.csv").open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["user", "item", "rating", "timestamp"])
        for u in range(users):
            liked = [r["id"] for r in catalogue if r["categories"][0] == names[u % 3]]
            for t, item in enumerate(rng.sample(liked, per_user)):
                out.writerow([f"u{u}", item, rng.choice([3, 4, 5]), 1000 + 10 * t])
    return {"items": folder / "items.jsonl", "interactions": folder / "interactions.csv"}
