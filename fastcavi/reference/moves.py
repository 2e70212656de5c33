"""Moves that change the number of components, written plainly (the fast path is
:mod:`fastcavi.models.moves`).

A move replaces the responsibilities r (N x K lists) of the current E-step by other
responsibilities r'; its gain is the exact ELBO at r' and the q(theta) updated from r', less
the same at r::

    gain = L(r', update(r')) - L(r, update(r))

* merge j and k: column j becomes r_j + r_k, column k goes;
* delete j: r'_l = r_l / sum_{m != j} r_m for every other l (evenly where that sum is 0);
* birth from j, with s_i the share of point i that stays: column j becomes r_ij s_i and a new
  last column r_ij (1 - s_i).
"""

from __future__ import annotations

import math

from . import family as F


def _rows(resp):
    return [[float(v) for v in row] for row in resp]


def responsibilities(X, params):
    """The E-step: r_ik proportional to exp(log rho_ik), each row summing to 1."""
    out = []
    for row in F.log_resp(X, params):
        top = max(row)
        e = [math.exp(v - top) for v in row]
        total = sum(e)
        out.append([v / total for v in e])
    return out


def merge(resp, j, k):
    """r with column k added into column j and removed."""
    out = []
    for row in _rows(resp):
        new = list(row)
        new[j] = row[j] + row[k]
        del new[k]
        out.append(new)
    return out


def delete(resp, j):
    """r without column j, its mass shared by the others in proportion to theirs."""
    out = []
    for row in _rows(resp):
        rest = row[:j] + row[j + 1:]
        total = sum(rest)
        out.append([v / total for v in rest] if total > 0 else [1.0 / len(rest)] * len(rest))
    return out


def birth(resp, j, share):
    """r with column j split: r_ij share_i stays, r_ij (1 - share_i) is a new last column."""
    out = []
    for row, s in zip(_rows(resp), share):
        new = list(row)
        new[j] = row[j] * s
        new.append(row[j] * (1.0 - s))
        out.append(new)
    return out


def bound(X, resp, prior, sample_weight=None):
    """L(r, update(r)): the exact ELBO at r and the q(theta) it updates to."""
    stats = F.statistics(X, resp, prior.covariance_type, sample_weight)
    return F.elbo(X, resp, F.update(stats, prior), prior, sample_weight)


def gain(X, resp, new_resp, prior, sample_weight=None):
    """The exact ELBO gain of replacing ``resp`` by ``new_resp``."""
    return bound(X, new_resp, prior, sample_weight) - bound(X, resp, prior, sample_weight)
