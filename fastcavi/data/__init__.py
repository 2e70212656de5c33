"""Where the rows come from: sources that yield row blocks from an array in memory, a
memory-mapped file or a Dask array (``sources``, ``dask``), the data's moments and the default
hyperparameters read from them (``defaults``), and standardisation (``scale``).
"""
