"""Report layer: figures, verdicts for the paper's claims, the self-contained HTML report and ``reproduce``."""
