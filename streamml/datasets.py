"""Multi-label streams: Mulan ARFF files and a generator with label-dependency drift."""

import csv
import io
import pathlib
import xml.etree.ElementTree as ET

import numpy as np
from river.datasets import base as dataset_base

__all__ = ["DriftingMultiLabel", "Emotions", "MulanStream", "SparseTopicStream"]

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
    try:
        tree = ET.parse(xml_path)
    except ET.ParseError as err:
        line, column = err.position
        raise ValueError(
            f"{xml_path}, line {line}, column {column}: malformed Mulan label file ({err})"
        ) from None
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
        self.data_line = 0  # file line number of the @data line
        with open(path, encoding="utf-8", errors="replace") as f:
            while True:
                line = f.readline()
                if not line:
                    break
                self.data_line += 1
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
    sparse
        False: every feature of every row (omitted sparse values are 0, as ARFF defines).
        True: only the features with a non-zero number or a non-numeric nominal / string
        value, which is what wide text streams (bag of words) are best streamed as: a
        model's cost can then grow with an instance's words instead of the vocabulary.
        ``"auto"``: True for the rows written in sparse form (``{index value, ...}``).

    Errors in the data name the file and its line: a value that is not a number, a nominal
    value outside its declaration, a sparse index out of range or a sparse row not closed.

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
    >>> [x for x, _ in MulanStream(folder / "toy.arff", sparse=True)][2]
    {'f1': 2.0, 'colour': 'red'}
    """

    def __init__(self, path, xml=None, sparse=False):
        if not (isinstance(sparse, bool) or sparse == "auto"):
            raise ValueError(f"sparse must be True, False or 'auto', got {sparse!r}")
        self._sparse_mode = sparse  # river's Dataset owns the attribute ``sparse``
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
        self._allowed = [frozenset(k) if isinstance(k, tuple) else None for k in first.kinds]
        self._zero = [self._sparse_zero(kind) for kind in first.kinds]
        n_samples = sum(self._count_rows(p, h) for p, h in zip(self.paths, self._headers))
        super().__init__(
            task=dataset_base.MO_BINARY_CLF,
            n_features=len(self.features),
            n_samples=n_samples,
            n_outputs=len(label_names),
            sparse=sparse is not False,
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

    def _value(self, col, raw, path, lineno):
        """Converted value of attribute ``col`` (None when missing); errors name the line."""
        if raw == "?" or raw is None:
            return None
        kind = self._headers[0].kinds[col]
        if isinstance(kind, tuple) and raw not in self._allowed[col]:
            name = self._headers[0].names[col]
            raise ValueError(
                f"{path}, line {lineno}: attribute {name!r} has value {raw!r}, outside its "
                f"declaration {{{','.join(kind)}}}"
            )
        try:
            return self._converters[col](raw)
        except ValueError:
            name = self._headers[0].names[col]
            raise ValueError(
                f"{path}, line {lineno}: attribute {name!r} has value {raw!r}, not a number"
            ) from None

    def _sparse_items(self, s, path, lineno):
        """(column, raw value) pairs of a sparse row ``{index value, ...}``."""
        end = s.rfind("}")
        if end < 0:
            raise ValueError(f"{path}, line {lineno}: sparse row not closed with '}}'")
        body = s[1:end].strip()
        items = []
        if not body:
            return items
        n_cols = len(self._converters)
        for item in _split_values(body):
            idx, _, raw = item.strip().partition(" ")
            try:
                col = int(idx)
            except ValueError:
                raise ValueError(
                    f"{path}, line {lineno}: sparse entry {item.strip()!r} does not start with "
                    "an attribute index"
                ) from None
            if not 0 <= col < n_cols:
                raise ValueError(
                    f"{path}, line {lineno}: sparse index {col} out of range (the file "
                    f"declares {n_cols} attributes, indices 0..{n_cols - 1})"
                )
            items.append((col, raw.strip()))
        return items

    def _row(self, line, path, lineno):
        s = line.strip()
        if s.startswith("{"):
            sparse_row = True
            values = list(self._zero)
            for col, raw in self._sparse_items(s, path, lineno):
                values[col] = self._value(col, raw, path, lineno)
        else:
            sparse_row = False
            raw_values = _split_values(s)
            if len(raw_values) != len(self._converters):
                raise ValueError(
                    f"{path}, line {lineno}: {len(raw_values)} values for "
                    f"{len(self._converters)} attributes"
                )
            values = [self._value(c, v, path, lineno) for c, v in enumerate(raw_values)]
        mode = self._sparse_mode
        only_non_zero = mode is True or (mode == "auto" and sparse_row)
        names = self._headers[0].names
        x = {}
        for col in self._feature_cols:
            v = values[col]
            if v is None or (only_non_zero and v == 0.0 and not isinstance(v, str)):
                continue
            x[names[col]] = v
        y = {}
        for name, col in zip(self.labels, self._label_cols):
            v = values[col]
            if v is None:
                y[name] = False
            elif v in (1.0, "1"):
                y[name] = True
            elif v in (0.0, "0"):
                y[name] = False
            else:
                raise ValueError(f"{path}, line {lineno}: label {name!r} has value {v!r}, not 0/1")
        return x, y

    def __iter__(self):
        for path, header in zip(self.paths, self._headers):
            with open(path, encoding="utf-8", errors="replace") as f:
                f.seek(header.data_offset)
                for lineno, line in enumerate(f, header.data_line + 1):
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


class SparseTopicStream(dataset_base.Dataset):
    """Wide sparse multi-label stream (a synthetic bag of words) with grouped labels and drift.

    Labels ``l0, l1, ...`` are dealt into ``n_groups`` topics. Each instance picks one topic
    (two with probability ``p_second_topic``; topics are Zipf-distributed, so a few are frequent
    and many are rare, as in text), then ``1`` to ``max_labels_per_topic`` labels of it: labels of
    one topic co-occur, labels of different topics rarely do. Its features are word counts
    ``w0, w1, ...`` given only where non-zero (a river dict of the words present): each label
    contributes ``words_per_label`` draws from its own vocabulary of ``vocabulary_per_label``
    words, each topic ``words_per_label`` draws from its own vocabulary, and ``noise_words``
    draws come from the whole vocabulary. At each instant of ``drift_at`` the labels are dealt
    into new topics (which labels go together changes; each label keeps its own words).

    Parameters
    ----------
    n_features
        Vocabulary size (number of distinct features).
    n_labels
        Number of labels.
    n_groups
        Number of topics (groups of co-occurring labels).
    drift_at
        Instants (0-based instance index) at which the labels are regrouped.
    n_samples
        Length of the stream; None streams forever.
    max_labels_per_topic
        Most labels one topic gives an instance (uniform between 1 and this).
    p_second_topic
        Probability that an instance also carries a second topic.
    words_per_label
        Word draws per label present (and per topic present).
    vocabulary_per_label
        Size of each label's and each topic's own vocabulary.
    noise_words
        Word draws from the whole vocabulary per instance.
    only_present
        Give only the labels present in ``y`` (as sparse label storage does; a label is then
        first seen when it first occurs) instead of every label with True / False.
    seed
        Random seed.

    Examples
    --------
    >>> from streamml.datasets import SparseTopicStream
    >>> stream = SparseTopicStream(n_features=10_000, n_labels=1_000, n_groups=100,
    ...                            drift_at=(500,), n_samples=1_000, seed=0)
    >>> x, y = next(iter(stream))
    >>> len(y), len(x) < 100, all(v > 0 for v in x.values())
    (1000, True, True)
    >>> stream.groups_at(0) != stream.groups_at(600)
    True
    """

    def __init__(
        self,
        n_features=10_000,
        n_labels=1_000,
        n_groups=100,
        drift_at=(),
        n_samples=None,
        max_labels_per_topic=3,
        p_second_topic=0.3,
        words_per_label=8,
        vocabulary_per_label=20,
        noise_words=10,
        only_present=False,
        seed=None,
    ):
        for name, value in (("n_features", n_features), ("n_labels", n_labels),
                            ("n_groups", n_groups),
                            ("max_labels_per_topic", max_labels_per_topic),
                            ("words_per_label", words_per_label),
                            ("vocabulary_per_label", vocabulary_per_label)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if n_groups > n_labels:
            raise ValueError(f"n_groups ({n_groups}) must not exceed n_labels ({n_labels})")
        if vocabulary_per_label > n_features:
            raise ValueError(
                f"vocabulary_per_label ({vocabulary_per_label}) must not exceed n_features "
                f"({n_features})"
            )
        if not 0 <= p_second_topic <= 1:
            raise ValueError(f"p_second_topic must be in [0, 1], got {p_second_topic!r}")
        if isinstance(noise_words, bool) or not isinstance(noise_words, int) or noise_words < 0:
            raise ValueError(f"noise_words must be an integer >= 0, got {noise_words!r}")
        super().__init__(task=dataset_base.MO_BINARY_CLF, n_features=n_features,
                         n_samples=n_samples, n_outputs=n_labels, sparse=True)
        self.n_labels = n_labels
        self.n_groups = n_groups
        self.drift_at = tuple(sorted(drift_at))
        self.max_labels_per_topic = max_labels_per_topic
        self.p_second_topic = p_second_topic
        self.words_per_label = words_per_label
        self.vocabulary_per_label = vocabulary_per_label
        self.noise_words = noise_words
        self.only_present = only_present
        self.seed = seed
        rng = np.random.default_rng([0 if seed is None else seed, 12345])
        self._label_words = rng.integers(0, n_features, (n_labels, vocabulary_per_label))
        self._topic_words = rng.integers(0, n_features, (n_groups, vocabulary_per_label))
        weights = 1.0 / np.arange(1, n_groups + 1)
        self._topic_p = weights / weights.sum()
        self._regimes = [self._regime(k) for k in range(len(self.drift_at) + 1)]

    def _regime(self, k):
        rng = np.random.default_rng([0 if self.seed is None else self.seed, k])
        order = rng.permutation(self.n_labels)
        return [np.sort(chunk) for chunk in np.array_split(order, self.n_groups)]

    def regime_at(self, t):
        """Index of the label grouping active at instant ``t``."""
        return int(np.searchsorted(self.drift_at, t, side="right"))

    def groups_at(self, t):
        """The topics (lists of label names) at instant ``t``."""
        return [[f"l{i}" for i in g] for g in self._regimes[self.regime_at(t)]]

    def __iter__(self):
        rng = np.random.default_rng(self.seed)
        names_x = [f"w{i}" for i in range(self.n_features)]
        names_y = [f"l{i}" for i in range(self.n_labels)]
        t = 0
        while self.n_samples is None or t < self.n_samples:
            groups = self._regimes[self.regime_at(t)]
            n_topics = 2 if rng.random() < self.p_second_topic else 1
            topics = np.unique(rng.choice(self.n_groups, n_topics, p=self._topic_p))
            present = []
            words = [rng.integers(0, self.n_features, self.noise_words)]
            for g in topics:
                members = groups[g]
                k = min(int(rng.integers(1, self.max_labels_per_topic + 1)), len(members))
                chosen = rng.choice(members, k, replace=False)
                present.extend(chosen.tolist())
                words.append(self._topic_words[g, rng.integers(
                    0, self.vocabulary_per_label, self.words_per_label)])
                for label in chosen:
                    words.append(self._label_words[label, rng.integers(
                        0, self.vocabulary_per_label, self.words_per_label)])
            ids, counts = np.unique(np.concatenate(words), return_counts=True)
            x = {names_x[i]: float(c) for i, c in zip(ids.tolist(), counts.tolist())}
            y = {} if self.only_present else dict.fromkeys(names_y, False)
            for label in present:
                y[names_y[label]] = True
            yield x, y
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
