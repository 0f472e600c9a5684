"""The sparse autoencoder and its training.

* ``config``            SAEConfig (one SAE) and TrainConfig (how a grid is trained); ``expand_grid``
* ``model``             the SparseAutoencoder (TopK / BatchTopK / ReLU), save and load
* ``loss``              the training objective (MSE + AuxK, or + L1), written densely
* ``kernels``           the sparse TopK forward/backward used by the trainer
* ``optim``             Adam with the unit-norm decoder in one call (the CPU trainer's step)
* ``trainer``           ``train_grid``: a whole grid in one pass of the data, checkpointed
* ``distributed``       the grid shared between torchrun's processes (one writer, the same files)
* ``metrics``           FVU, normalised MSE, L0, dead latents, density, cosine
* ``convergence``       each model's training curve judged: converged, or why not
* ``geometric_median``  b_pre's initialisation
"""
