"""Reading and writing data for the ``fastcavi`` command.

Text files (``.csv``, ``.tsv``, ``.txt``): the standard library's :mod:`csv` module works out
the layout from the first rows: the delimiter is sniffed (``,`` ``;`` tab or ``|``; ``.tsv``
is always tab; a ``.txt`` with none of them is split on whitespace), quoted fields are
understood, a header line is found by itself, a first column without a name (what
``pandas.DataFrame.to_csv`` and R's ``write.csv`` write for the row index) is left out, and so
are text columns unless they are asked for. NumPy's C parser then reads the numbers; when it
refuses the file, the csv module reads it row by row to name the file's line (counted from 1
at the top of the file) and column in the error. (Not pandas: it is not a dependency.)
``.npy`` is memory-mapped, never copied (unless ``--columns`` picks some of its columns).

NumPy is imported inside the functions: ``fastcavi --help`` imports this module and should not
pay for NumPy.
"""

from __future__ import annotations

import csv
import itertools
import os
import warnings

TEXT_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz", ".txt.gz")
DATA_SUFFIXES = (".npy", ".npz") + TEXT_SUFFIXES
ARRAY_OUT_SUFFIXES = (".npy", ".csv", ".txt")
_SNIFF_BYTES = 64 * 1024
_INDEX_NAMES = ("", "Unnamed: 0")  # a header's name for a row index (csv, R; pandas)
# Fields that mean "no value" (pandas writes NaN as an empty field, R as NA); with
# --drop-incomplete their rows are skipped, else they are an error that names the option.
MISSING = frozenset(("", "NA", "N/A", "NaN", "nan", "NAN", "null", "NULL", "None", "#N/A"))
DROP_HINT = "--drop-incomplete skips the rows with missing values"
_SNIFF_ROWS = 100  # a column is numeric when its first value in these rows is a number


class CLIError(Exception):
    """Bad input, reported as one line on stderr with exit status 2."""


class Table:
    """What :func:`load_table` read: ``X`` (n, p) and a display ``names`` list (p,),
    ``ignored``, a list of sentences on columns left out (for the summary), and ``named``:
    whether ``names`` are the file's own (a header line), not positions ("column 0")."""

    def __init__(self, X, names, ignored=(), named=False):
        self.X, self.names, self.ignored = X, list(names), list(ignored)
        self.named = named
        self.kept = None  # with --drop-incomplete: which rows of the file X holds (bool)

    def dropped_text(self):
        """'dropped M of N rows with missing values', or None without --drop-incomplete."""
        if self.kept is None:
            return None
        n = len(self.kept)
        return f"dropped {n - int(self.kept.sum()):,} of {n:,} rows with missing values"


def one_line(text):
    return " ".join(str(text).split())


def suffix(path):
    return os.path.splitext(os.fspath(path))[1].lower()


def data_kind(path):
    """A data file's extension: ``.csv``, or ``.csv.gz`` for a gzip-compressed one."""
    stem, last = os.path.splitext(os.fspath(path))
    return (suffix(stem) + ".gz") if last.lower() == ".gz" else last.lower()


def _open_text(path):
    import gzip

    if data_kind(path).endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8-sig", errors="replace", newline="")
    return open(path, encoding="utf-8-sig", errors="replace", newline="")


def _decimal_comma(value):
    """Whether a field looks like a number written with a decimal comma ('5,1')."""
    import re

    return re.fullmatch(r"[-+]?\d+,\d+", value) is not None


def check_suffix(path, allowed, what):
    if suffix(path) not in allowed:
        raise CLIError(f"{path}: unknown file extension {suffix(path)!r} for {what} "
                       f"(expected {', '.join(allowed)})")


def _has_magic(path, magic):
    with open(path, "rb") as f:
        return f.read(len(magic)) == magic


def parse_columns(text):
    """--columns a,b,3: a list of names (str) and 0-based indices (int)."""
    out = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            raise CLIError(f"--columns {text!r}: an empty column name")
        out.append(int(part) if part.lstrip("-").isdigit() else part)
    return out


# -- text files ------------------------------------------------------------------------------

def _is_number(field):
    try:
        float(field)
    except ValueError:
        return False
    return True


def _dialect(path, sample):
    """(delimiter or None for whitespace, csv dialect or None)."""
    kind = data_kind(path).removesuffix(".gz")
    lines = [line for line in sample.splitlines() if line.strip()
             and not line.lstrip().startswith("#")]
    if kind == ".tsv":
        return "\t", None
    try:
        dialect = csv.Sniffer().sniff("\n".join(lines[:200]), delimiters=",;\t|")
        return dialect.delimiter, dialect
    except csv.Error:
        pass
    if kind == ".csv":
        return ",", None
    return None, None  # .txt: whitespace


def _rows(f, delimiter, dialect, first_line):
    """(line number, fields) of every row that is not blank or a '#' comment."""
    if delimiter is None:
        for number, line in enumerate(f, first_line):
            fields = line.split()
            if fields and not fields[0].startswith("#"):
                yield number, fields
        return
    quotechar = getattr(dialect, "quotechar", None) or '"'
    reader = csv.reader(f, delimiter=delimiter, quotechar=quotechar, skipinitialspace=True,
                        doublequote=True, strict=False)
    last = 0
    for fields in reader:
        number = first_line + last  # the row's first line
        last = reader.line_num
        fields = [field.strip() for field in fields]
        if not any(fields) or fields[0].startswith("#"):
            continue
        yield number, fields


def _select(columns, names, has_header, numeric, path, first_values, context=""):
    """The column indices asked for by --columns (names or 0-based indices); ``context``
    follows the names of missing columns in the error."""
    missing = [c for c in columns if isinstance(c, str) and not (has_header and c in names)]
    if missing:
        where = (f"its columns are {', '.join(map(repr, names))}" if has_header
                 else "it has no header line: give 0-based column numbers")
        which = (f"column named {missing[0]!r}" if len(missing) == 1
                 else f"columns named {', '.join(map(repr, missing))}")
        raise CLIError(f"{path}: no {which}{context} ({where})")
    picked = []
    for c in columns:
        if isinstance(c, str):
            j = names.index(c)
        else:
            if not 0 <= c < len(names):
                raise CLIError(f"{path}: column {c} is out of range (it has {len(names)} "
                               f"columns, numbered 0 to {len(names) - 1})")
            j = c
            if j == 0 and has_header and len(names) > 1 and names[0] in _INDEX_NAMES:
                raise CLIError(f"{path}: column 0 has no name in the header: it is a row "
                               "index (as pandas and R write one), not data; the data "
                               "columns are numbered from 1")
        if j in picked:
            raise CLIError(f"--columns names column {names[j]!r} twice")
        if not numeric[j]:
            line, value = first_values[j]
            raise CLIError(f"{path}: column {names[j]!r} is not numeric (line {line}: "
                           f"{value!r})")
        picked.append(j)
    return picked


def _by_name(picked, names, model_names, path, context):
    """The picked column indices reordered as ``model_names`` (a model's columns), or a
    CLIError when they are not the same columns."""
    chosen = [names[j] for j in picked]
    if sorted(chosen) == sorted(model_names):
        return [picked[chosen.index(name)] for name in model_names]
    extra = [n for n in chosen if n not in model_names]
    lacking = [n for n in model_names if n not in chosen]
    parts = ([f"picks {', '.join(map(repr, extra))}, not among them"] if extra else []) + (
        [f"leaves out {', '.join(map(repr, lacking))}"] if lacking else [])
    raise CLIError(f"{path}: --columns {' and '.join(parts)}: the columns{context} are "
                   f"{', '.join(map(repr, model_names))} (predict picks them by name without "
                   "--columns)")


def read_text(path, *, skip_header=None, columns=None, by_name=None, context="",
              drop_incomplete=False):
    """A :class:`Table` from a .csv/.tsv/.txt file (see the module docstring).

    ``by_name``: a model's column names. When the file has a header line, those columns are
    picked by name, in that order (or --columns, which must name the same columns); a file
    without one is read as without ``by_name``. ``context`` follows the names of missing
    columns in the error. A missing field (see MISSING) is read as NaN with
    ``drop_incomplete``, else it is an error."""
    import numpy as np

    if os.path.isdir(path):
        raise CLIError(f"{path}: is a directory, not a data file")
    with _open_text(path) as f:
        sample = f.read(_SNIFF_BYTES)
        if len(sample) == _SNIFF_BYTES and "\n" in sample:
            sample = sample[:sample.rindex("\n")]
        f.seek(0)
        first_line = 1
        for _ in range(skip_header or 0):
            f.readline()
            first_line += 1
        delimiter, dialect = _dialect(path, sample)
        rows = _rows(f, delimiter, dialect, first_line)
        first = next(rows, None)
        if first is None:
            raise CLIError(f"{path}: no data")
        second = next(rows, None)
        has_header = False
        if skip_header is None:
            # A header: a first row with a name where the next row has a number.
            if second is None:
                has_header = not all(map(_is_number, first[1]))
            else:
                has_header = any(not _is_number(a) and _is_number(b)
                                 for a, b in zip(first[1], second[1]))
        width = len(first[1])
        if has_header:
            names = first[1]
            first, second = second, next(rows, None)
            if first is None:
                raise CLIError(f"{path}: no data (only a header line)")
            if len(first[1]) != width:
                raise CLIError(f"{path}: cannot read the numbers: line {first[0]} has "
                               f"{len(first[1])} fields, the header line has {width}")
        else:
            names = [f"column {j}" for j in range(width)]
        head = [first] + ([second] if second is not None else [])
        while len(head) < _SNIFF_ROWS and (row := next(rows, None)) is not None:
            head.append(row)
        # A column's kind is that of its first value that is not missing.
        first_values = []
        for j in range(width):
            found = next(((n, f[j]) for n, f in head if len(f) == width and f[j] not in MISSING),
                         None)
            first_values.append(found or (first[0], first[1][j]))
        numeric = [_is_number(v) and v not in MISSING for _, v in first_values]
        ignored = []
        if by_name is not None and has_header and columns is None:
            picked = _select(by_name, names, has_header, numeric, path, first_values, context)
        elif columns is not None:
            picked = _select(columns, names, has_header, numeric, path, first_values)
            if by_name is not None and has_header:
                picked = _by_name(picked, names, list(by_name), path, context)
        else:
            index = has_header and width > 1 and names[0] in _INDEX_NAMES
            if index:
                ignored.append("column 0 (no name in the header: a row index)")
            text = [j for j in range(width) if not numeric[j] and not (index and j == 0)]
            if text:
                ignored.append("text column" + "s" * (len(text) > 1) + " "
                               + ", ".join(repr(names[j]) for j in text))
            picked = [j for j in range(width) if numeric[j] and not (index and j == 0)]
            comma = [j for j in text if _decimal_comma(first_values[j][1])]
            if comma and picked:
                warnings.warn(f"{path}: column{'s' * (len(comma) > 1)} "
                              f"{', '.join(repr(names[j]) for j in comma)} left out as text "
                              f"look{'s' * (len(comma) == 1)} like numbers with a decimal comma "
                              f"({first_values[comma[0]][1]!r}); {_COMMA_ADVICE}", stacklevel=2)
            if not picked:
                hint = "" if not comma else (
                    f": the numbers seem to use a decimal comma (line {first_values[comma[0]][0]}"
                    f", column {names[comma[0]]!r}: {first_values[comma[0]][1]!r}); "
                    f"{_COMMA_ADVICE}")
                raise CLIError(f"{path}: no numeric columns{hint}")
        _check_unique(names, picked, has_header, columns, path)
        quotechar = getattr(dialect, "quotechar", None) or '"'
        text = [j for j in range(width) if not numeric[j]]
        X = _read_fast(path, delimiter, quotechar, first[0] - 1, width, text, picked)
        values = [] if X is None else None
        for number, fields in itertools.chain(head, rows) if X is None else ():
            if len(fields) != width:
                raise CLIError(f"{path}: cannot read the numbers: line {number} has "
                               f"{len(fields)} field{'s' * (len(fields) != 1)}, expected "
                               f"{width}")
            try:
                values.append([float(fields[j]) for j in picked])
            except ValueError:
                if drop_incomplete and any(fields[j] in MISSING for j in picked):
                    values.append([np.nan] * len(picked))
                    continue
                j = next(j for j in picked if not _is_number(fields[j]))
                what = "an empty field" if fields[j] == "" else f"{fields[j]!r} is not a number"
                hint = f" ({DROP_HINT})" if fields[j] in MISSING else ""
                raise CLIError(f"{path}: cannot read the numbers: line {number}, column "
                               f"{names[j]!r}: {what}{hint}") from None
    if X is None:
        X = np.array(values, dtype=np.float64).reshape(len(values), len(picked))
    _check_finite_text(X, path, names, picked, drop_incomplete,
                       (skip_header, delimiter, dialect, has_header))
    return Table(X, [names[j] for j in picked], ignored, named=has_header)


_COMMA_ADVICE = ("fastcavi reads a decimal point: convert the file first, for example with "
                 "pandas.read_csv(path, sep=';', decimal=',').to_csv('points.csv')")


def _check_unique(names, picked, has_header, columns, path):
    """A CLIError when a column used is named alike by another in the header (picked by
    numbers alone, distinct names are enough)."""
    if not has_header:
        return
    by_number = columns is not None and all(isinstance(c, int) for c in columns)
    for j in picked:
        same = [k for k, name in enumerate(names) if name == names[j]]
        if len(same) > 1 and not (by_number and sum(k in picked for k in same) == 1):
            raise CLIError(f"{path}: the header's name {names[j]!r} names two columns "
                           f"({' and '.join(map(str, same[:2]))}): rename one, or pick by "
                           "number with --columns")


def _check_finite_text(X, path, names, picked, drop_incomplete, layout):
    """A CLIError naming the line and column of the first infinite value (or NaN, unless
    ``drop_incomplete``): the file is read again up to that row to find its line."""
    import numpy as np

    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(X) if not drop_incomplete else np.isinf(X)
    if not bad.any():
        return
    i, jj = np.argwhere(bad)[0]
    skip_header, delimiter, dialect, has_header = layout
    with _open_text(path) as f:
        first_line = 1
        for _ in range(skip_header or 0):
            f.readline()
            first_line += 1
        rows = _rows(f, delimiter, dialect, first_line)
        if has_header:
            next(rows)
        number, fields = next(itertools.islice(rows, int(i), None))
    field = fields[picked[jj]]
    what = (f"{field!r} is a missing value ({DROP_HINT})" if np.isnan(X[i, jj])
            else f"{field!r} is not a finite number")
    raise CLIError(f"{path}: line {number}, column {names[picked[jj]]!r}: {what}")


def _read_fast(path, delimiter, quotechar, skiprows, width, text, picked):
    """The chosen columns by NumPy's C parser (several times faster than the csv module), or
    None when it stumbles: the row-by-row reader then finds the line and column to name.
    Every column is parsed (text ones as 0), so that a row with a field too many or too few
    (an unquoted separator in a text field) is caught rather than shifting the numbers."""
    import numpy as np

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            X = np.loadtxt(path, delimiter=delimiter, comments="#", skiprows=skiprows,
                           ndmin=2, dtype=np.float64, encoding="utf-8-sig",
                           converters={j: _zero for j in text} or None,
                           quotechar=quotechar if delimiter is not None else None)
    except (ValueError, TypeError, IndexError):
        return None
    return np.ascontiguousarray(X[:, picked]) if X.shape[1] == width else None


def _zero(field):
    return 0.0


# -- all formats -----------------------------------------------------------------------------

def load_table(path, *, key=None, skip_header=None, columns=None, by_name=None, context="",
               drop_incomplete=False):
    """A :class:`Table` from ``path``: ``.npy`` memory-mapped (never copied unless columns
    are picked), ``.npz`` (its first array, or ``key``), or a text file (:func:`read_text`,
    which alone uses ``by_name`` and ``context``: other files have no column names). With
    ``drop_incomplete``, rows with a missing value (NaN) are left out and ``kept`` says which.

    Raises CLIError for an unknown extension, a file of the wrong kind, a shape that is not
    (n_samples >= 1, n_features >= 1), text in a chosen column, non-real data, NaN or
    infinity.
    """
    import numpy as np

    if os.path.isdir(path):
        raise CLIError(f"{path}: is a directory, not a data file")
    kind = data_kind(path)
    if kind not in DATA_SUFFIXES:
        raise CLIError(f"{path}: unknown file extension {kind!r} for data "
                       f"(expected {', '.join(DATA_SUFFIXES)})")
    if key is not None and kind != ".npz":
        raise CLIError(f"--key applies to .npz files only, not to {path}")
    if skip_header is not None and kind not in TEXT_SUFFIXES:
        raise CLIError(f"--skip-header applies to text files only, not to {path}")
    if kind in TEXT_SUFFIXES:
        table = read_text(path, skip_header=skip_header, columns=columns, by_name=by_name,
                          context=context, drop_incomplete=drop_incomplete)
        return _checked(table, path, drop_incomplete)
    if kind == ".npy":
        if not _has_magic(path, b"\x93NUMPY"):
            raise CLIError(f"{path}: not a .npy file")
        try:
            X = np.load(path, mmap_mode="r", allow_pickle=False)
        except (ValueError, EOFError) as exc:
            raise CLIError(f"{path}: cannot read the array: {one_line(exc)}") from None
    else:
        X = _read_npz(path, key)
    if columns is not None and X.ndim == 2:
        names = [c for c in columns if isinstance(c, str)]
        if names:
            raise CLIError(f"{path}: --columns by name ({names[0]!r}) needs a text file with a "
                           "header line; give 0-based column numbers")
        for c in columns:
            if not 0 <= c < X.shape[1]:
                raise CLIError(f"{path}: column {c} is out of range (it has {X.shape[1]} "
                               f"columns, numbered 0 to {X.shape[1] - 1})")
        if len(set(columns)) != len(columns):
            raise CLIError("--columns names a column twice")
        X = X[:, columns]
        picked = list(columns)
    else:
        picked = range(X.shape[1]) if X.ndim == 2 else ()
    return _checked(Table(X, [f"column {j}" for j in picked]), path, drop_incomplete)


def _checked(table, path, drop_incomplete):
    """table, its rows with a NaN left out when drop_incomplete (noted in table.kept), after
    check_data; a NaN otherwise is an error that names the option."""
    import numpy as np

    X = table.X
    if drop_incomplete and X.ndim == 2 and X.dtype.kind == "f":
        kept = ~np.isnan(X).any(axis=1)
        if not kept.any():
            raise CLIError(f"{path}: every row has a missing value")
        table.X = X if kept.all() else np.ascontiguousarray(X[kept])
        table.kept = kept
    try:
        check_data(table.X, path)
    except CLIError as exc:
        if "NaN" in str(exc) and not drop_incomplete:
            raise CLIError(f"{exc} ({DROP_HINT})") from None
        raise
    return table


def load_data(path, *, key=None, skip_header=None, columns=None):
    """The 2-D array of :func:`load_table`."""
    return load_table(path, key=key, skip_header=skip_header, columns=columns).X


def _read_npz(path, key):
    import numpy as np

    if not _has_magic(path, b"PK"):
        raise CLIError(f"{path}: not a .npz file")
    try:  # our own file object: closed on every error path (no ResourceWarning)
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as z:
            if not z.files:
                raise CLIError(f"{path}: holds no arrays")
            name = z.files[0] if key is None else key
            if name not in z.files:
                raise CLIError(f"{path}: no array named {key!r} "
                               f"(it holds {', '.join(z.files)})")
            return z[name]
    except (CLIError, FileNotFoundError, PermissionError):
        raise
    except (ValueError, EOFError, OSError) as exc:
        raise CLIError(f"{path}: cannot read the array: {one_line(exc)}") from None
    except Exception as exc:  # zipfile.BadZipFile and friends
        raise CLIError(f"{path}: cannot read the archive: {one_line(exc)}") from None


def check_data(X, path):
    """X if it is a non-empty 2-D array of finite real numbers, else CLIError naming path."""
    import numpy as np

    from .._validation import check_finite

    if X.dtype.kind not in "biuf" or X.dtype == np.float16:
        raise CLIError(f"{path}: expected real numbers, got dtype {X.dtype}")
    if X.ndim != 2:
        raise CLIError(f"{path}: expected a 2-D array of shape (n_samples, n_features), "
                       f"got a {X.ndim}-D array of shape {X.shape}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise CLIError(f"{path}: no data (shape {X.shape})")
    try:
        check_finite(X, name=path)
    except ValueError as exc:
        raise CLIError(one_line(exc)) from None
    return X


# -- writing ---------------------------------------------------------------------------------

def write_array(f, path, array, kept=None):
    """Labels (1-D, integers) or probabilities (N x K) to an open binary file, in the format
    of path's extension, one row per row of the data file: with ``kept`` (the rows that were
    not dropped), a dropped row is -1 (labels) or NaN (probabilities) in a ``.npy``, an empty
    field in a ``.csv`` and ``NA`` in a ``.txt``. Text files start with a header line,
    ``row label`` or ``row proba_0 ... proba_{K-1}``, where ``row`` numbers the data rows
    from 0 (pandas' numbering), and give probabilities to 6 significant digits."""
    import io

    import numpy as np

    labels = array.ndim == 1
    if suffix(path) == ".npy":
        if kept is not None:
            full = np.full((len(kept),) + array.shape[1:], -1 if labels else np.nan,
                           dtype=array.dtype)
            full[kept] = array
            array = full
        np.save(f, array)
        return
    delimiter = "," if suffix(path) == ".csv" else " "
    fmt = "%d" if array.dtype.kind in "iu" else "%.6g"
    names = ["label"] if labels else [f"proba_{k}" for k in range(array.shape[1])]
    f.write((delimiter.join(["row", *names]) + "\n").encode())
    n = len(array) if kept is None else len(kept)
    rows = np.arange(n) if kept is None else np.flatnonzero(kept)
    table = np.column_stack([rows, array])
    fmts = [fmt] * (len(names) + 1) if labels else ["%d"] + [fmt] * len(names)
    if kept is None or kept.all():
        np.savetxt(f, table, fmt=fmts, delimiter=delimiter)
        return
    buf = io.StringIO()
    np.savetxt(buf, table, fmt=fmts, delimiter=delimiter)
    missing = "" if delimiter == "," else "NA"
    lines = np.array([delimiter.join([str(i)] + [missing] * len(names)) for i in range(n)],
                     dtype=object)
    lines[kept] = buf.getvalue().splitlines()
    f.write(("\n".join(lines) + "\n").encode())
