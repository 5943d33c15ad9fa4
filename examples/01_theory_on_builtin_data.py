"""The predicted geometry of a built-in corpus, and a check against the closed forms of docs/theory.md §5.

Runs offline in a few seconds:  python examples/01_theory_on_builtin_data.py
"""

import numpy as np

import ntpgeom as g

# 1. The built-in "synthetic" corpus: 16 five-word contexts, V = 30, three next tokens per context (theory.md §6 (b)).
data = g.corpora.synthetic()
print(f"data: V = {data.V} tokens, m = {data.m} distinct contexts, n = {data.n} pairs, entropy bound ℋ = "
      f"{data.entropy_bound:.4f}")

# 2. The theory: L_in (finite part), S̃ (proxy) and L_mm (NTP-SVM*, with its duality-gap certificate) - §3, §5.
th = g.compute_theory(data)
print(f"NTP-SVM*: relative duality gap {th.svm.gap:.1e}; Prop. 3 certificate (S̃ optimal): {th.certificate.holds}; "
      f"direction distance L_mm vs S̃: {th.dist_mm_tilde:.3f}")

# L_in reproduces the in-support log-odds and lies in F: its in-support entries sum to zero per context.
S = data.S.toarray().astype(bool)
assert np.allclose(np.where(S, th.L_in, 0).sum(axis=0), 0)

# 3. All 2-subsets of V = 6 tokens (Props. 2 and 5): L_mm = S̃ and the word embeddings form a simplex ETF.
V, k = 6, 2
ks = g.synthetic.all_k_subsets(V, k)
th_k = g.compute_theory(ks)
W_mm = th_k.W_mm
Wn = W_mm / np.linalg.norm(W_mm, axis=1, keepdims=True)
cos_ww = (Wn @ Wn.T)[~np.eye(V, dtype=bool)]
print(f"all {k}-subsets of {V} tokens (m = {ks.m}): L_mm = S̃ up to {th_k.dist_mm_tilde:.1e}; "
      f"cos(w_v, w_v') in [{cos_ww.min():.4f}, {cos_ww.max():.4f}], predicted {-1 / (V - 1):.4f}")
assert th_k.dist_mm_tilde < 1e-4 and np.allclose(cos_ww, -1 / (V - 1), atol=1e-4)
print("ok")
