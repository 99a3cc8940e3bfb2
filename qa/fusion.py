"""Two ranked lists of passages → one: reciprocal rank fusion (Cormack et al., 2009) with a tie-break.

Pure logic over (row id, score) lists, so that it is tested on hand-made inputs (tests/test_logic.py).
"""

from __future__ import annotations

Ranked = list[tuple[int, float]]  # (row id, score), best first


def fuse(dense: Ranked, sparse: Ranked, rrf_k: int) -> list[tuple[int, float, int | None, int | None]]:
    """Reciprocal rank fusion of two ranked (id, score) lists into (id, fused score, dense rank, BM25 rank).

    Equal fused scores are broken by the scores relative to each side's best: ties are
    common (one side ranks A over B, the other B over A), and the side whose margin is
    larger is then the surer one.
    """
    ranks: dict[int, list[int | None]] = {}
    relative: dict[int, float] = {}
    for side, results in enumerate((dense, sparse)):
        top = results[0][1] if results and results[0][1] > 0 else 1.0
        for r, (i, score) in enumerate(results):
            ranks.setdefault(i, [None, None])[side] = r
            relative[i] = relative.get(i, 0.0) + score / top
    fused = [
        (i, sum(1.0 / (rrf_k + r + 1) for r in rs if r is not None), rs[0], rs[1]) for i, rs in ranks.items()
    ]
    return sorted(fused, key=lambda x: (round(x[1], 12), relative[x[0]]), reverse=True)
