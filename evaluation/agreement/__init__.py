"""Judge-vs-human agreement on plain records: pure computation, no Django models.

The evaluation app turns its judgment rows into ``Vote`` / ``Score`` records and calls
``agreement_report`` / ``score_agreement_report`` (numbers, and in ``verdicts`` what they
mean in plain words); ``read_judgments`` parses MT-Bench /
Chatbot Arena files for ``import_judgments``.
"""

from evaluation.agreement.pairwise import (
    ALPHA_UNITS,
    KAPPA_CODING,
    LABELS,
    Comparison,
    agreement_counts,
    agreement_report,
    confusion_matrix,
    disagreements,
    leaderboard,
    pair_votes,
    rank_correlation,
    select_votes,
)
from evaluation.agreement.reader import (
    JudgmentFileError,
    Judgments,
    RowError,
    iter_judgments,
    parse_row,
    read_judgments,
    read_judgments_text,
)
from evaluation.agreement.records import (
    WINNERS,
    Score,
    Vote,
    flip_winner,
    json_number,
    looks_like_judge,
    rater_group,
    winner_label,
)
from evaluation.agreement.scores import (
    STATISTICS,
    ScorePair,
    pair_scores,
    score_agreement_report,
    score_disagreements,
    score_leaderboard,
)
from evaluation.agreement.verdicts import (
    PAIRWISE_EXPLAIN,
    SCORE_EXPLAIN,
    pairwise_trust,
    score_trust,
)

__all__ = [
    "ALPHA_UNITS",
    "KAPPA_CODING",
    "LABELS",
    "PAIRWISE_EXPLAIN",
    "SCORE_EXPLAIN",
    "STATISTICS",
    "WINNERS",
    "Comparison",
    "JudgmentFileError",
    "Judgments",
    "RowError",
    "Score",
    "ScorePair",
    "Vote",
    "agreement_counts",
    "agreement_report",
    "confusion_matrix",
    "disagreements",
    "flip_winner",
    "iter_judgments",
    "json_number",
    "leaderboard",
    "looks_like_judge",
    "pair_scores",
    "pair_votes",
    "pairwise_trust",
    "parse_row",
    "rank_correlation",
    "rater_group",
    "read_judgments",
    "read_judgments_text",
    "score_agreement_report",
    "score_disagreements",
    "score_leaderboard",
    "score_trust",
    "select_votes",
    "winner_label",
]
