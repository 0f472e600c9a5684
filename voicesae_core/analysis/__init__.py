"""The analyses: functions of SAEs and labelled embeddings, returning tables (no plotting, no audio).

* ``probe``           feature identification: the latent phi for a label, scored alone (Figs. 2-3)
* ``steering``        Eqs. 1-3: switch phi off/on, relative similarity delta_s (Tables III-IV)
* ``splitting``       follow a label's latents across latent sizes: flows and splits (Fig. 4)
* ``bootstrap``       bootstrap intervals of a predictor's precision, recall and F1
* ``recovery``        beyond the paper: decoder directions vs the planted features (synthetic default)
* ``stability``       beyond the paper: latents shared across seeds; a label's latent followed across seeds
* ``sparse_probing``  beyond the paper: a probe on the top-k latents vs PCA and the raw embedding
* ``verification``    beyond the paper: speaker-verification trials, EER, minDCF, d'; steering's cost to them
* ``catalogue``       beyond the paper: one row per latent (firing, best label, nearest feature, lineage)
"""
