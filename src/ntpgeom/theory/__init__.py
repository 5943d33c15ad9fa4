"""Theory layer: closed forms (L_in, S̃, the F / F⊥ split, cross-entropies), NTP-SVM*, the regularisation path and
the predicted geometry (theory.md §§3-5)."""

from .subspaces import L_in, S_tilde, ShapeError, cross_entropy, cross_entropy_in, entropy_bound, proj_F, proj_perp

__all__ = ["L_in", "S_tilde", "proj_F", "proj_perp", "cross_entropy", "cross_entropy_in", "entropy_bound", "ShapeError"]
