"""The loop every model and estimator runs: sum the statistics of the blocks, update, bound,
stop; the batch, incremental, accelerated and stochastic sweeps
(:mod:`fastcavi.inference.algorithms`). It knows no model: each model hands it a visit (the
statistics of one block) and an update.
"""
