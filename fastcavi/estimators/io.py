"""Fitted models on disk, and atomic file writes.

A model file is an uncompressed ``.npz`` that :func:`numpy.load` opens with
``allow_pickle=False``. It holds:

* ``format_version``: int64 scalar, 2 (1 before ``standardize``; :func:`load` reads both and
  refuses any other value).
* ``model``: the string ``"GaussianMixtureCAVI"`` (or ``"BayesianGaussianMixture"``, whose
  fitted attributes are listed at ``_BGM_ARRAYS``, or ``"GaussianMixture"``, below);
  ``fastcavi_version``: who wrote it.
* ``params``: the constructor parameters that are plain scalars, strings or None, as one JSON
  string (``random_state`` given as a ``RandomState``/``Generator`` instance is stored as None).
* ``param__NAME``: constructor parameters given as arrays (``means_init``, and ``prior_mean`` or
  ``mean_vars_init`` when they are vectors), each as a float64 array.
* The fitted attributes: ``means_`` (K, p), ``mean_vars_`` (K,), ``lower_bounds_`` (n_iter_,),
  ``lower_bound_``, ``n_iter_``, ``converged_``, ``prior_mean_`` (p,), ``prior_var_``,
  ``likelihood_var_``, ``n_features_in_`` (0-d arrays for scalars), and ``feature_names_in_``
  (a unicode array, for either model) when the model was fitted on a DataFrame, or by
  ``fastcavi fit`` on a text file with a header line (its column names). Files without it load
  without names.
* ``center_`` and ``scale_`` (p,), only for a model fitted with ``standardize=True``: every X
  is standardised with them before ``predict``. (Version 1 files have neither, nor the
  ``standardize`` parameter: they load as ``standardize=False``.)
* ``GaussianMixture`` (maximum-likelihood EM): ``weights_`` (K,), ``means_`` (K, p),
  ``covariances_`` and ``precisions_cholesky_`` (shaped by ``covariance_type``) as the float64
  values its predictions use, and ``attributes_dtype`` ('float32' or 'float64', the data's):
  the loaded model's public attributes are cast to it as the fitted model's were
  (``precisions_`` is derived); with ``lower_bounds_``, ``lower_bound_``, ``n_iter_``,
  ``converged_``, ``n_features_in_`` and ``feature_names_in_`` as above.

Which entries a file of each class holds is one table, :data:`_LAYOUTS`.

Every write goes to a temporary file beside the target, is flushed and fsync'ed, and is then
renamed over the target with :func:`os.replace`: a crash mid-write never leaves a partial
file under the final name. The file is written to exactly the path given (no ``.npz`` is
appended, unlike :func:`numpy.savez`). A symbolic link is followed: its target is replaced
(atomically, the link stays a link); an existing path that is not a regular file (a FIFO, a
device, a socket, a directory) is refused with an ``OSError`` and left untouched.
"""

from __future__ import annotations

import errno
import json
import numbers
import os
import secrets
import stat
import zipfile
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from .._interrupt import register_temporary, renaming, unregister_temporary
from .._validation import check_fitted, model_name

FORMAT_VERSION = 2
_READABLE_VERSIONS = (1, 2)
_ARRAY_PREFIX = "param__"
_SCALAR_FITTED = {  # name -> converter applied on load
    "lower_bound_": float,
    "n_iter_": int,
    "converged_": bool,
    "prior_var_": float,
    "likelihood_var_": float,
    "n_features_in_": int,
}
_ARRAY_FITTED = ("means_", "mean_vars_", "lower_bounds_", "prior_mean_")
_STANDARDIZE_FITTED = ("center_", "scale_")  # format_version 2, with standardize=True
# BayesianGaussianMixture (format_version 2): the variational parameters and the prior; the
# rest (weights_, precisions_, ...) is derived on load. weight_concentration_ is (K,), or the
# sticks' (a, b) stacked as (2, K) under the process prior.
_BGM_SCALARS = {"lower_bound_": float, "n_iter_": int, "converged_": bool,
                "weight_concentration_prior_": float, "mean_precision_prior_": float,
                "degrees_of_freedom_prior_": float, "n_features_in_": int}
_BGM_ARRAYS = ("weight_concentration_", "mean_precision_", "means_", "degrees_of_freedom_",
               "covariances_", "lower_bounds_", "mean_prior_", "covariance_prior_")
# GaussianMixture (EM): the float64 parameters its predictions use (the public attributes are
# these cast to attributes_dtype, the data's), the rest derived on load.
_GM_SCALARS = {"lower_bound_": float, "n_iter_": int, "converged_": bool,
               "n_features_in_": int}
_GM_PARAMS = (("weights_", "weights"), ("means_", "means"), ("covariances_", "covariances"),
              ("precisions_cholesky_", "precisions_cholesky"))
_GM_DTYPES = ("float32", "float64")

__all__ = ["save_model", "save", "read_model", "atomic_write", "StagedFiles",
           "FORMAT_VERSION"]


# -- atomic writes ----------------------------------------------------------------------------

def _open_temp(path):
    """Create and open (binary, write) a new hidden temporary file in path's directory.

    Created with mode 0o666 so the process umask applies, as for any new file.
    """
    directory, name = os.path.split(os.path.abspath(path))
    for _ in range(100):
        tmp = os.path.join(directory, f".{name}.{secrets.token_hex(6)}.tmp")
        register_temporary(tmp)  # before it exists: an interrupted command removes it
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                         0o666)
        except FileExistsError:
            unregister_temporary(tmp)
            continue
        except BaseException:
            unregister_temporary(tmp)
            raise
        return tmp, os.fdopen(fd, "wb")
    raise FileExistsError(f"could not create a temporary file in {directory!r}")


def _fsync_dir(directory):
    """Make a rename durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass
    unregister_temporary(path)


_SPECIAL_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
                  (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                  (stat.S_ISSOCK, "a socket"))


def output_target(path):
    """The file that writing ``path`` replaces: symbolic links followed. Raises an OSError
    naming ``path`` when that file exists and is not a regular file (it is never replaced)."""
    path = os.fspath(path)
    target = os.path.realpath(path)
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        return target
    if not stat.S_ISREG(mode):
        kind = next((k for test, k in _SPECIAL_KINDS if test(mode)), "not a regular file")
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
        via = f" (via the link to {target})" if target != os.path.abspath(path) else ""
        raise FileExistsError(errno.EEXIST, f"exists and is {kind}{via}, not a regular file: "
                              "refusing to replace it", path)
    return target


class StagedFiles:
    """Several output files written all-or-nothing (as far as a file system allows).

    :meth:`open` creates each file's temporary beside its target at once (so a missing or
    unwritable directory fails before any work is done); :meth:`commit` flushes, fsyncs and
    renames them all over their targets; :meth:`discard` (also on leaving a ``with`` block by an
    exception) deletes the temporaries and leaves the targets untouched.
    """

    def __init__(self):
        self._items = []  # (final path, temporary path, file object)

    def open(self, path):
        path = os.fspath(path)
        target = output_target(path)  # symbolic links followed; special files refused
        if any(target == p for p, _, _ in self._items):
            raise ValueError(f"{path}: the same output path is given twice")
        try:
            tmp, f = _open_temp(target)
        except OSError as exc:  # name the file asked for, not the temporary
            directory = os.path.dirname(target)
            if not os.path.isdir(directory):
                raise FileNotFoundError(errno.ENOENT, "No such directory",
                                        os.path.dirname(path) or ".") from None
            raise type(exc)(exc.errno, f"cannot create a file there ({exc.strerror})",
                            path) from None
        self._items.append((target, tmp, f))
        return f

    def commit(self):
        try:
            for path, _, f in self._items:
                f.flush()
                os.fsync(f.fileno())
                f.close()
                output_target(path)  # still a regular file (or none) after the work
        except BaseException:
            self.discard()
            raise
        dirs = set()
        with renaming():  # complete: a Ctrl-C now does not stop the command (see _interrupt)
            for path, tmp, _ in self._items:
                os.replace(tmp, path)
                unregister_temporary(tmp)
                dirs.add(os.path.dirname(path))
        for d in dirs:
            _fsync_dir(d)
        self._items = []

    def discard(self):
        for _, tmp, f in self._items:
            f.close()
            _remove_quietly(tmp)
        self._items = []

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.commit()
        else:
            self.discard()
        return False


@contextmanager
def atomic_write(path):
    """Yield a binary file object whose contents replace ``path`` atomically on success.

    If the block raises (or the process dies), ``path`` is left as it was.
    """
    with StagedFiles() as staged:
        yield staged.open(path)


# -- models -----------------------------------------------------------------------------------

def _plain(value):
    """value as a JSON-able Python scalar, or raise TypeError."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)  # names, such as BayesianGaussianMixture's moves
    raise TypeError


def _model_arrays(estimator, feature_names=None):
    """The dict of arrays that make up a model file (see the module docstring);
    ``feature_names`` (the command line's column names) stands in for ``feature_names_in_``."""
    from .. import __version__

    model = model_name(estimator)
    if model not in _LAYOUTS:
        raise TypeError(f"cannot save a {model}: not a fastcavi model")
    check_fitted(estimator)
    params, arrays = {}, {}
    for name, value in estimator._init_arguments().items():
        try:
            params[name] = _plain(value)
            continue
        except TypeError:
            pass
        if name == "random_state":  # a RandomState or Generator: its state is not kept
            params[name] = None
            continue
        arr = np.asarray(value)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"cannot save parameter {name}={value!r}: it is neither a plain "
                            "scalar or string nor an array of real numbers")
        arrays[_ARRAY_PREFIX + name] = arr.astype(np.float64)
    arrays.update({
        "format_version": np.int64(FORMAT_VERSION),
        "model": np.str_(model),
        "fastcavi_version": np.str_(__version__),
        "params": np.str_(json.dumps(params, sort_keys=True)),
    })
    names = getattr(estimator, "feature_names_in_", None) if feature_names is None else (
        feature_names)
    if names is not None:
        arrays["feature_names_in_"] = np.asarray(names, dtype=str)
    layout = _LAYOUTS[model]
    for name in layout.arrays:
        arrays[name] = np.asarray(getattr(estimator, name), dtype=np.float64)
    for name, convert in layout.scalars.items():
        arrays[name] = np.asarray(convert(getattr(estimator, name)))
    arrays.update(layout.derived(estimator))
    return arrays


def write_model(estimator, file, feature_names=None):
    """Write the model to an open binary file object (no atomicity of its own);
    ``feature_names``, when given, are stored as the model's ``feature_names_in_``."""
    np.savez(file, **_model_arrays(estimator, feature_names))


def save_model(estimator, path):
    """Write a fitted :class:`GaussianMixtureCAVI`, :class:`BayesianGaussianMixture` or
    :class:`GaussianMixture` to ``path`` (an ``.npz``), atomically.

    The file is written to exactly ``path``; nothing is appended to the name. Returns ``path``.
    Raises ``sklearn.exceptions.NotFittedError`` for an unfitted estimator.
    """
    arrays = _model_arrays(estimator)  # fail before touching the disk
    with atomic_write(path) as f:
        np.savez(f, **arrays)
    return path


def save(model, path):
    """Write a fitted model to ``path`` (an ``.npz``, no pickle), atomically; the same as
    ``model.save(path)``. Read it back with :func:`fastcavi.load`. Returns ``path``."""
    return save_model(model, path)


def _read(z, key, path):
    if key not in z.files:
        raise ValueError(f"{path}: not a valid fastcavi model file (missing {key!r})")
    return z[key]


def read_model(path, classes):
    """Read a model file and return the fitted estimator it holds, an instance of
    ``classes[model name]`` (:func:`fastcavi.load` passes the package's estimators; this
    module imports none of them, so that they can import it to save).

    The loaded model predicts exactly (bit for bit) as the one that was saved. Raises
    ``ValueError`` for a file that is not a fastcavi model or has an unknown
    ``format_version``, and ``OSError`` when the file cannot be read.
    """
    fspath = os.fspath(path)
    with open(fspath, "rb") as f:
        magic = f.read(6)
    if magic == b"\x93NUMPY":
        raise ValueError(f"{fspath}: not a fastcavi model file (a plain .npy array, "
                         "not an .npz)")
    if magic[:2] != b"PK":
        raise ValueError(f"{fspath}: not a fastcavi model file (not an .npz archive)")
    with open(fspath, "rb") as f:  # ours: closed on every error path (no ResourceWarning)
        est = _load_open(f, fspath, classes)
    _check_consistent(est, fspath)
    return est


def _load_open(f, fspath, classes):
    try:
        z = np.load(f, allow_pickle=False)
    except (EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{fspath}: not a fastcavi model file ({exc})") from None
    except ValueError as exc:
        raise ValueError(f"{fspath}: not a fastcavi model file ({exc})") from None
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise ValueError(f"{fspath}: not a fastcavi model file (a plain .npy array, "
                         "not an .npz)")
    with z:
        try:
            if "format_version" not in z.files:
                raise ValueError(f"{fspath}: not a fastcavi model file "
                                 "(no 'format_version' entry)")
            version = _read(z, "format_version", fspath)
            if version.shape != () or version.dtype.kind not in "iu":
                raise ValueError(f"{fspath}: not a valid fastcavi model file "
                                 "(format_version is not an integer)")
            if int(version) not in _READABLE_VERSIONS:
                raise ValueError(
                    f"{fspath}: model file format_version {int(version)} is not supported "
                    f"(this fastcavi reads format_version "
                    f"{' and '.join(map(str, _READABLE_VERSIONS))}); it was probably written "
                    "by a newer fastcavi version")
            model = str(_read(z, "model", fspath))
            if model not in classes or model not in _LAYOUTS:
                raise ValueError(f"{fspath}: holds a {model!r}, not a fastcavi model")
            params = json.loads(str(_read(z, "params", fspath)))
            for key in z.files:
                if key.startswith(_ARRAY_PREFIX):
                    params[key[len(_ARRAY_PREFIX):]] = z[key]
            layout = _LAYOUTS[model]
            est = _set_fitted(classes[model](**params), z, layout.arrays, layout.scalars,
                              fspath)
            try:
                layout.restore(est, z, fspath)
            except (ValueError, IndexError) as exc:
                if str(exc).startswith(fspath):  # already says which file and why
                    raise
                raise ValueError(f"{fspath}: not a valid fastcavi model file ({exc})") from None
        except (KeyError, TypeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{fspath}: not a valid fastcavi model file ({exc})") from None
    return est


def _set_fitted(est, z, array_names, scalar_names, fspath):
    """Set the fitted attributes a model file holds: float64 arrays, scalars (0-d entries,
    converted), and feature_names_in_ when present. Returns est."""
    for name in array_names:
        setattr(est, name, np.array(_read(z, name, fspath), dtype=np.float64))
    for name, convert in scalar_names.items():
        value = _read(z, name, fspath)
        if value.shape != ():
            raise ValueError(f"{fspath}: not a valid fastcavi model file ({name} is not a "
                             "scalar)")
        setattr(est, name, convert(value[()]))
    if "feature_names_in_" in z.files:
        est.feature_names_in_ = z["feature_names_in_"].astype(object)
    return est


def _check_consistent(est, path):
    _LAYOUTS[model_name(est)].check(est, path)


# -- each class's entries: GaussianMixtureCAVI ---------------------------------------------------

def _cavi_derived(est):
    return {name: np.asarray(getattr(est, name), dtype=np.float64)
            for name in _STANDARDIZE_FITTED if getattr(est, name, None) is not None}


def _cavi_restore(est, z, fspath):
    for name in _STANDARDIZE_FITTED:
        setattr(est, name, np.array(z[name], dtype=np.float64) if name in z.files else None)


def _check_cavi(est, path):
    K, p = est.n_components, est.n_features_in_
    expected = {"means_": (K, p), "mean_vars_": (K,), "prior_mean_": (p,),
                "lower_bounds_": (est.n_iter_,)}
    for name, shape in expected.items():
        if getattr(est, name).shape != shape:
            raise ValueError(f"{path}: not a valid fastcavi model file ({name} has shape "
                             f"{getattr(est, name).shape}, expected {shape})")
    center, scale = est.center_, est.scale_
    if not (center is scale is None and not est.standardize) and not (
            est.standardize and center is not None and scale is not None
            and center.shape == scale.shape == (p,) and np.all(scale > 0)):
        raise ValueError(f"{path}: not a valid fastcavi model file (center_ and scale_ do "
                         "not match standardize and the number of features)")
    if not (est.likelihood_var_ > 0 and np.all(est.mean_vars_ > 0)):
        raise ValueError(f"{path}: not a valid fastcavi model file (non-positive variances)")


# -- BayesianGaussianMixture -------------------------------------------------------------------

def _bgm_restore(est, z, fspath):
    est._restore_fitted(np.array(_read(z, "psi", fspath), dtype=np.float64))


def _check_bgm(est, path):
    est._check_restored(path)


# -- GaussianMixture (EM) ----------------------------------------------------------------------

def _gm_derived(est):
    params = est._params_
    arrays = {name: np.asarray(getattr(params, field), dtype=np.float64)
              for name, field in _GM_PARAMS}
    arrays["attributes_dtype"] = np.str_(np.dtype(est.means_.dtype).name)
    return arrays


def _gm_restore(est, z, fspath):
    """Check the parameters' shapes and values, then set them and the public attributes
    (cast to attributes_dtype) as the fit did."""
    from ..models.covariance import COVARIANCES
    from ..models.em import EMParams

    dtype = str(_read(z, "attributes_dtype", fspath))
    if dtype not in _GM_DTYPES:
        raise ValueError(f"attributes_dtype is {dtype!r}, not one of {_GM_DTYPES}")
    values = {name: np.array(_read(z, name, fspath), dtype=np.float64)
              for name, _ in _GM_PARAMS}
    weights = values["weights_"]
    if weights.ndim != 1:
        raise ValueError(f"weights_ has shape {weights.shape}, expected (n_components,)")
    k, p = len(weights), est.n_features_in_
    covariance = COVARIANCES[est.covariance_type]
    shape = covariance.covariances_shape(k, p)
    expected = {"weights_": (k,), "means_": (k, p), "covariances_": shape,
                "precisions_cholesky_": shape}
    for name, want in expected.items():
        if values[name].shape != want:
            raise ValueError(f"{name} has shape {values[name].shape}, expected {want}")
    if not all(np.all(np.isfinite(v)) for v in values.values()):
        raise ValueError("non-finite parameters")
    if not (np.all(weights > 0) and np.all(covariance.variances(values["covariances_"], k) > 0)):
        raise ValueError("non-positive weights or variances")
    est._set_fitted(EMParams(*(values[name] for name, _ in _GM_PARAMS)), np.dtype(dtype))
    est.lower_bounds_ = [float(b) for b in est.lower_bounds_]


def _check_gm(est, path):
    if len(est.lower_bounds_) != est.n_iter_:
        raise ValueError(f"{path}: not a valid fastcavi model file (lower_bounds_ has "
                         f"{len(est.lower_bounds_)} values, n_iter_ is {est.n_iter_})")


@dataclass(frozen=True)
class _Layout:
    """The entries of one class's model file: ``arrays`` (float64) and ``scalars`` (name ->
    converter) are fitted attributes saved and set as they are; ``derived(est)`` gives the
    further entries to save, ``restore(est, z, path)`` rebuilds the rest of the fitted model
    from them (a ValueError or IndexError there means a damaged file), and ``check(est,
    path)`` refuses an inconsistent one."""

    arrays: tuple
    scalars: dict
    derived: Callable
    restore: Callable
    check: Callable


_LAYOUTS = {
    "GaussianMixtureCAVI": _Layout(_ARRAY_FITTED, _SCALAR_FITTED, _cavi_derived, _cavi_restore,
                                   _check_cavi),
    "BayesianGaussianMixture": _Layout(_BGM_ARRAYS, _BGM_SCALARS,
                                       lambda est: {"psi": est._params_.psi},  # Psi_k itself:
                                       _bgm_restore, _check_bgm),  # covariances_ * nu rounds
    "GaussianMixture": _Layout(("lower_bounds_",), _GM_SCALARS, _gm_derived, _gm_restore,
                               _check_gm),
}

#: The models a file can hold, by name.
LAYOUT_NAMES = tuple(_LAYOUTS)
