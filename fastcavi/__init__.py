"""fastcavi: fast mean-field CAVI for the Bayesian Gaussian mixture."""

__version__ = "0.1.0"
