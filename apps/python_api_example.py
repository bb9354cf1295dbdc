"""Embedding a trained tlsuite app in your own code.

tlsuite finance-monitor train                 # once: writes runs/finance-monitor/<name>/
python apps/python_api_example.py             # classifies a few headlines with the latest run
python apps/python_api_example.py runs/finance-monitor/<name>
"""

from __future__ import annotations

import sys

from tlsuite_core import TlsuiteError, load_app


def main() -> int:
    ref = sys.argv[1] if len(sys.argv) > 1 else "finance-monitor"
    try:
        app = load_app(ref)
    except TlsuiteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    headlines = [
        "Operating profit rose 20 % year on year",
        "The company will publish its interim report on 3 May",
        "Shares fell 12 % after the group cut its full-year outlook",
    ]
    for text, p in zip(headlines, app.predict(headlines)):
        probs = "  ".join(f"{label} {score:.2f}" for label, score in p.scores.items())
        print(f"{p.label:>9}  {p.score:.2f}  | {probs} | {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
