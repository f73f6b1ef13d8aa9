"""Multi-label streams: Mulan ARFF files and a generator with label-dependency drift."""

import csv
import io
import math
import pathlib
import xml.etree.ElementTree as ET

import numpy as np
from river.datasets import base as dataset_base

__all__ = ["DriftingMultiLabel", "Emotions", "MulanStream"]

_NUMERIC = {"numeric", "real", "integer"}


def _parse_name(rest):
    """Split an ``@attribute`` remainder into (name, type text); names may be quoted."""
    rest = rest.strip()
    if rest[:1] in ("'", '"'):
        quote = rest[0]
        out = []
        i = 1
        while i < len(rest):
            ch = rest[i]
            if ch == "\\" and i + 1 < len(rest):
                out.append(rest[i + 1])
                i += 2
                continue
            if ch == quote:
                return "".join(out), rest[i + 1:].strip()
            out.append(ch)
            i += 1
        raise ValueError(f"unterminated quoted attribute name in {rest!r}")
    parts = rest.split(None, 1)
    if len(parts) != 2:
        raise ValueError(f"attribute declaration without a type: {rest!r}")
    return parts[0], parts[1].strip()


def _split_values(text):
    """Comma-separated ARFF values, honouring single/double quotes and backslash escapes."""
    if "'" not in text and '"' not in text:
        return [v.strip() for v in text.split(",")]
    reader = csv.reader(io.StringIO(text), quotechar="'", escapechar="\\", skipinitialspace=True)
    values = next(reader)
    return [v.strip().strip('"') for v in values]


def _read_label_names(xml_path):
    tree = ET.parse(xml_path)
    names = []
    for element in tree.iter():
        if element.tag.split("}")[-1] == "label" and "name" in element.attrib:
            names.append(element.attrib["name"])
    if not names:
        raise ValueError(f"{xml_path} names no <label name=...> element")
    return names


def _find_xml(arff_path):
    stem = arff_path.stem
    for suffix in ("-train", "-test", "_train", "_test"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
    candidate = arff_path.with_name(stem + ".xml")
    if candidate.exists():
        return candidate
    xmls = sorted(arff_path.parent.glob("*.xml"))
    if len(xmls) == 1:
        return xmls[0]
    raise FileNotFoundError(
        f"no Mulan label file found for {arff_path} (looked for {candidate.name}); pass xml="
    )


class _Header:
    def __init__(self, path):
        self.names = []
        self.kinds = []  # "numeric", "string" or a tuple of nominal values
        self.data_offset = None
        with open(path, encoding="utf-8", errors="replace") as f:
            while True:
                line = f.readline()
                if not line:
                    break
                s = line.strip()
                if not s or s.startswith("%"):
                    continue
                low = s.lower()
                if low.startswith("@attribute"):
                    name, kind = _parse_name(s[len("@attribute"):])
                    if kind.startswith("{"):
                        inner = kind[1 : kind.rindex("}")]
                        self.kinds.append(tuple(_split_values(inner)))
                    elif kind.split()[0].lower() in _NUMERIC:
                        self.kinds.append("numeric")
                    else:
                        self.kinds.append("string")
                    self.names.append(name)
                elif low.startswith("@data"):
                    self.data_offset = f.tell()
                    break
        if self.data_offset is None:
            raise ValueError(f"{path} has no @data section: not an ARFF file")


class MulanStream(dataset_base.Dataset):
    """Stream a Mulan multi-label ARFF file (dense or sparse) in file order.

    The label attributes are the ones named by Mulan's XML label file. Numeric attributes
    give floats; nominal attributes give floats when all their values are numbers and
    strings otherwise; missing values (``?``) are left out of ``x``. Labels give booleans.
    Sparse rows (``{index value, ...}``) give the same dictionaries as dense rows (omitted
    values are 0, as ARFF defines).

    Parameters
    ----------
    path
        Path of the ARFF file, or a sequence of paths streamed one after the other (e.g.
        Mulan's train then test file); all must declare the same attributes.
    xml
        Path of the XML label file; by default ``<name>.xml`` next to the (first) ARFF file,
        with any ``-train`` / ``-test`` suffix removed.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "toy.arff").write_text(
    ...     "@relation toy\\n@attribute f1 numeric\\n@attribute colour {red,blue}\\n"
    ...     "@attribute a {0,1}\\n@attribute b {0,1}\\n@data\\n1.5,red,1,0\\n?,blue,0,0\\n"
    ...     "{0 2.0,2 1}\\n")
    >>> _ = (folder / "toy.xml").write_text(
    ...     '<labels xmlns="http://mulan.sourceforge.net/labels">'
    ...     '<label name="a"></label><label name="b"></label></labels>')
    >>> stream = MulanStream(folder / "toy.arff")
    >>> stream.labels, stream.n_features, stream.n_samples
    (['a', 'b'], 2, 3)
    >>> for x, y in stream:
    ...     print(x, y)
    {'f1': 1.5, 'colour': 'red'} {'a': True, 'b': False}
    {'colour': 'blue'} {'a': False, 'b': False}
    {'f1': 2.0, 'colour': 'red'} {'a': True, 'b': False}
    """

    def __init__(self, path, xml=None):
        paths = [path] if isinstance(path, (str, pathlib.Path)) else list(path)
        if not paths:
            raise ValueError("path must name at least one ARFF file")
        self.paths = [pathlib.Path(p) for p in paths]
        for p in self.paths:
            if not p.exists():
                raise FileNotFoundError(f"ARFF file not found: {p}")
        self.xml = pathlib.Path(xml) if xml is not None else _find_xml(self.paths[0])
        self._headers = [_Header(p) for p in self.paths]
        first = self._headers[0]
        for p, h in zip(self.paths[1:], self._headers[1:]):
            if h.names != first.names:
                raise ValueError(f"{p} declares other attributes than {self.paths[0]}")
        label_names = _read_label_names(self.xml)
        missing = [n for n in label_names if n not in first.names]
        if missing:
            raise ValueError(f"labels {missing} of {self.xml} are not attributes of {self.paths[0]}")
        label_set = set(label_names)
        self.labels = label_names
        self.features = [n for n in first.names if n not in label_set]
        self._label_cols = [first.names.index(n) for n in label_names]
        self._feature_cols = [i for i, n in enumerate(first.names) if n not in label_set]
        self._converters = [self._converter(kind) for kind in first.kinds]
        self._zero = [self._sparse_zero(kind) for kind in first.kinds]
        n_samples = sum(self._count_rows(p, h) for p, h in zip(self.paths, self._headers))
        super().__init__(
            task=dataset_base.MO_BINARY_CLF,
            n_features=len(self.features),
            n_samples=n_samples,
            n_outputs=len(label_names),
        )

    @staticmethod
    def _converter(kind):
        if kind == "numeric":
            return float
        if isinstance(kind, tuple):
            try:
                [float(v) for v in kind]
                return float
            except ValueError:
                return str
        return str

    def _sparse_zero(self, kind):
        if isinstance(kind, tuple):
            return self._converter(kind)(kind[0]) if kind else None
        return 0.0 if kind == "numeric" else ""

    @staticmethod
    def _count_rows(path, header):
        with open(path, encoding="utf-8", errors="replace") as f:
            f.seek(header.data_offset)
            return sum(1 for line in f if line.strip() and not line.lstrip().startswith("%"))

    def _row(self, line, path, lineno):
        s = line.strip()
        if s.startswith("{"):
            values = list(self._zero)
            body = s[1 : s.rindex("}")].strip()
            if body:
                for item in _split_values(body):
                    idx, _, raw = item.strip().partition(" ")
                    values[int(idx)] = raw.strip()
        else:
            values = _split_values(s)
            if len(values) != len(self._converters):
                raise ValueError(
                    f"{path}, data line {lineno}: {len(values)} values for "
                    f"{len(self._converters)} attributes"
                )
        x = {}
        for col in self._feature_cols:
            v = values[col]
            if v == "?" or v is None:
                continue
            x[self._headers[0].names[col]] = self._converters[col](v) if isinstance(v, str) else v
        y = {}
        for name, col in zip(self.labels, self._label_cols):
            v = values[col]
            if isinstance(v, float):
                v = "1" if v == 1.0 else "0"
            v = v.strip()
            if v in ("1", "1.0"):
                y[name] = True
            elif v in ("0", "0.0", "?", ""):
                y[name] = False
            else:
                raise ValueError(f"{path}, data line {lineno}: label {name!r} has value {v!r}, not 0/1")
        return x, y

    def __iter__(self):
        for path, header in zip(self.paths, self._headers):
            with open(path, encoding="utf-8", errors="replace") as f:
                f.seek(header.data_offset)
                for lineno, line in enumerate(f, 1):
                    if not line.strip() or line.lstrip().startswith("%"):
                        continue
                    yield self._row(line, path, lineno)


class DriftingMultiLabel(dataset_base.Dataset):
    """Multi-label stream whose label dependencies change at known instants.

    Features are standard normal. The labels are split into ``n_groups`` groups; each group
    has a random direction ``w_g`` in feature space and each label ``l`` of group ``g`` is
    present when ``w_g . x + noise * (u_l . x) + e > t_l`` (``u_l`` a label-specific direction,
    ``e`` Gaussian noise, ``t_l`` set for a label frequency near ``density``), so labels of
    one group co-occur. At each instant of ``drift_at`` the labels are dealt into new groups
    with new directions: which labels go together, and how they depend on ``x``, changes.

    Parameters
    ----------
    n_features
        Number of numeric features ``x0, x1, ...``.
    n_labels
        Number of labels ``l0, l1, ...``.
    n_groups
        Number of groups of dependent labels.
    drift_at
        Instants (0-based instance index) at which a new dependency structure starts.
    n_samples
        Length of the stream; None streams forever.
    density
        Approximate frequency of each label.
    noise
        Weight of each label's own direction relative to its group's.
    seed
        Random seed.

    Examples
    --------
    >>> from streamml.datasets import DriftingMultiLabel
    >>> stream = DriftingMultiLabel(n_features=4, n_labels=6, n_groups=2, drift_at=(100,),
    ...                             n_samples=200, seed=0)
    >>> x, y = next(iter(stream))
    >>> sorted(x), sorted(y)
    (['x0', 'x1', 'x2', 'x3'], ['l0', 'l1', 'l2', 'l3', 'l4', 'l5'])
    >>> [sorted(map(sorted, g)) for g in stream.groups_at(0)] != \\
    ...     [sorted(map(sorted, g)) for g in stream.groups_at(150)]
    True
    """

    def __init__(
        self,
        n_features=20,
        n_labels=12,
        n_groups=3,
        drift_at=(5000,),
        n_samples=None,
        density=0.25,
        noise=0.3,
        seed=None,
    ):
        for name, value in (("n_features", n_features), ("n_labels", n_labels),
                            ("n_groups", n_groups)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if n_groups > n_labels:
            raise ValueError(f"n_groups ({n_groups}) must not exceed n_labels ({n_labels})")
        if not 0 < density < 1:
            raise ValueError(f"density must be in (0, 1), got {density!r}")
        super().__init__(task=dataset_base.MO_BINARY_CLF, n_features=n_features,
                         n_samples=n_samples, n_outputs=n_labels)
        self.n_labels = n_labels
        self.n_groups = n_groups
        self.drift_at = tuple(sorted(drift_at))
        self.density = density
        self.noise = noise
        self.seed = seed
        self._regimes = [self._regime(k) for k in range(len(self.drift_at) + 1)]

    def _regime(self, k):
        rng = np.random.default_rng([0 if self.seed is None else self.seed, k])
        order = rng.permutation(self.n_labels)
        group_of = np.empty(self.n_labels, dtype=np.int64)
        for g, chunk in enumerate(np.array_split(order, self.n_groups)):
            group_of[chunk] = g
        w = rng.normal(size=(self.n_groups, self.n_features))
        w /= np.linalg.norm(w, axis=1, keepdims=True)
        u = rng.normal(size=(self.n_labels, self.n_features))
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        directions = w[group_of] + self.noise * u
        scale = np.sqrt((directions**2).sum(axis=1) + 0.1**2)
        # Score ~ N(0, scale^2): threshold at the (1 - density) quantile.
        from scipy.stats import norm

        thresholds = scale * norm.ppf(1 - self.density) * rng.uniform(0.8, 1.2, self.n_labels)
        return group_of, directions, thresholds

    def regime_at(self, t):
        """Index of the dependency structure active at instant ``t``."""
        return int(np.searchsorted(self.drift_at, t, side="right"))

    def groups_at(self, t):
        """The groups of labels (lists of names) that co-occur at instant ``t``."""
        group_of = self._regimes[self.regime_at(t)][0]
        return [[f"l{i}" for i in np.flatnonzero(group_of == g)] for g in range(self.n_groups)]

    def __iter__(self):
        rng = np.random.default_rng(self.seed)
        names_x = [f"x{i}" for i in range(self.n_features)]
        names_y = [f"l{i}" for i in range(self.n_labels)]
        t = 0
        block = 1024
        while self.n_samples is None or t < self.n_samples:
            xs = rng.normal(size=(block, self.n_features))
            noise = rng.normal(scale=0.1, size=(block, self.n_labels))
            for i in range(block):
                if self.n_samples is not None and t >= self.n_samples:
                    return
                _, directions, thresholds = self._regimes[self.regime_at(t)]
                x = xs[i]
                labels = directions @ x + noise[i] > thresholds
                yield dict(zip(names_x, x.tolist())), dict(zip(names_y, labels.tolist()))
                t += 1


_DATA = pathlib.Path(__file__).resolve().parent / "data"


class Emotions(MulanStream):
    """Mulan's *emotions*: 593 music clips, 72 features, 6 emotion labels (bundled).

    Ships with streamml, so it streams offline: a :class:`MulanStream` over the unchanged Mulan
    file (train and test sets in one, in Mulan's order). Source: Trohidis, Tsoumakas, Kalliris
    and Vlahavas, *Multilabel Classification of Music into Emotions*, ISMIR 2008; see
    ``streamml/data/emotions/README.md`` for the citation and the licence note.

    Examples
    --------
    >>> from streamml.datasets import Emotions
    >>> dataset = Emotions()
    >>> dataset.n_samples, dataset.n_features, dataset.labels[:2]
    (593, 72, ['amazed-suprised', 'happy-pleased'])
    >>> x, y = next(iter(dataset))
    >>> sorted(label for label, present in y.items() if present)
    ['happy-pleased', 'relaxing-calm']
    """

    def __init__(self):
        super().__init__(_DATA / "emotions" / "emotions.arff")
