"""Evaluation metrics written out by hand: classification scores, confusion matrix, rank correlation.

Everything here works on plain sequences (lists, numpy arrays, torch tensors) and returns plain Python
numbers, so the arithmetic can be checked with pencil and paper. The layouts follow scikit-learn's
`classification_report` (dict and text) because that is the layout the course's sample report uses.

Undefined values are a decision, not an accident:
- precision of a class that is never predicted is 0 (0 of 0 predictions were right), and so is its F1;
- recall of a class absent from the true labels is 0, with support 0; the class still gets its row;
- a correlation with a constant input has no value (its standard deviation is zero): `pearson` and
  `spearman` raise `UndefinedCorrelation`, a ValueError whose message names the constant input.
"""
import math

import numpy as np

AVERAGE_ROWS = ("accuracy", "macro avg", "weighted avg")


# --- classification ---------------------------------------------------------------------------------------

def _as_list(values):
    # .tolist() turns numpy and torch scalars into Python ints, which compare and hash like the labels do.
    return values.tolist() if hasattr(values, "tolist") else list(values)


def _check_labels(y_true, y_pred, labels):
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} labels but y_pred has {len(y_pred)}; they must match")
    if not y_true:
        raise ValueError("no labels to score: y_true and y_pred are empty")
    if len(set(labels)) != len(labels):
        raise ValueError(f"labels must be distinct, got {labels}")
    unknown = sorted({str(label) for label in y_true + y_pred if label not in labels})
    if unknown:
        # Silently dropping them would make every count and the accuracy wrong without a trace.
        raise ValueError(f"labels {', '.join(unknown)} appear in the data but not in labels={labels}")


def confusion_matrix(y_true, y_pred, labels):
    """Counts of (true, predicted) pairs: row i = true label labels[i], column j = predicted labels[j]."""
    y_true, y_pred, labels = _as_list(y_true), _as_list(y_pred), _as_list(labels)
    _check_labels(y_true, y_pred, labels)
    position = {label: index for index, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for true, predicted in zip(y_true, y_pred):
        matrix[position[true]][position[predicted]] += 1
    return matrix


def _ratio(numerator, denominator):
    # The one place 0/0 is decided: a score with nothing to count is 0, as in scikit-learn's default.
    return numerator / denominator if denominator else 0.0


def _class_scores(matrix, index):
    """Precision, recall, F1 and support of one class, read off the confusion matrix."""
    true_positives = matrix[index][index]
    predicted = sum(row[index] for row in matrix)   # column sum: how often the class was predicted
    support = sum(matrix[index])                    # row sum: how often it is the true label
    false_positives = predicted - true_positives
    false_negatives = support - true_positives
    return {
        "precision": _ratio(true_positives, predicted),
        "recall": _ratio(true_positives, support),
        # The harmonic mean of precision and recall, in the form that needs no special case when both are 0.
        "f1-score": _ratio(2 * true_positives, 2 * true_positives + false_positives + false_negatives),
        "support": support,
    }


def _average(per_class, weights):
    total = sum(weights)
    averaged = {key: sum(scores[key] * weight for scores, weight in zip(per_class, weights)) / total
                for key in ("precision", "recall", "f1-score")}
    averaged["support"] = sum(scores["support"] for scores in per_class)
    return averaged


def classification_report(y_true, y_pred, labels, target_names=None):
    """Per-class precision/recall/F1/support, accuracy, and macro and weighted averages.

    Returns {class name: {...}, ..., "accuracy": float, "macro avg": {...}, "weighted avg": {...}}, where
    each {...} holds "precision", "recall", "f1-score" and "support" (an int). Class names are
    `target_names` if given, otherwise the labels as strings. The macro average treats every class alike;
    the weighted average weights each class by its support, so rare classes count less.
    """
    labels = _as_list(labels)
    names = [str(label) for label in labels] if target_names is None else list(target_names)
    if len(names) != len(labels):
        raise ValueError(f"{len(names)} target_names for {len(labels)} labels")
    matrix = confusion_matrix(y_true, y_pred, labels)
    per_class = [_class_scores(matrix, index) for index in range(len(labels))]
    correct = sum(matrix[index][index] for index in range(len(labels)))
    total = sum(map(sum, matrix))
    report = dict(zip(names, per_class))
    report["accuracy"] = correct / total
    report["macro avg"] = _average(per_class, [1] * len(per_class))
    report["weighted avg"] = _average(per_class, [scores["support"] for scores in per_class])
    return report


def format_classification_report(report, digits=2):
    """The text table scikit-learn's classification_report prints, from the dict made above."""
    class_names = [name for name in report if name not in AVERAGE_ROWS]
    width = max([len(name) for name in class_names] + [len("weighted avg"), digits])

    def row(name, precision, recall, f1, support):
        return f"{name:>{width}}  {precision:>9} {recall:>9} {f1:>9} {support:>9}\n"

    def number(value):
        return f"{value:.{digits}f}"

    def scores_row(name, scores):
        return row(name, number(scores["precision"]), number(scores["recall"]), number(scores["f1-score"]),
                   scores["support"])

    text = row("", "precision", "recall", "f1-score", "support") + "\n"
    text += "".join(scores_row(name, report[name]) for name in class_names) + "\n"
    # Accuracy is one number over all examples, so only the F1 column holds it (for single-label
    # classification micro-averaged precision, recall and F1 all equal accuracy).
    text += row("accuracy", "", "", number(report["accuracy"]), report["macro avg"]["support"])
    text += scores_row("macro avg", report["macro avg"])
    text += scores_row("weighted avg", report["weighted avg"])
    return text


def format_confusion_matrix(matrix, names):
    """A plain-text table: one row per true class, one column per predicted class."""
    corner = "true \\ predicted"
    first_width = max([len(corner)] + [len(name) for name in names])
    widths = [max(len(name), *(len(str(row[column])) for row in matrix)) for column, name in enumerate(names)]
    lines = [f"{corner:<{first_width}}  " + "  ".join(f"{name:>{w}}" for name, w in zip(names, widths))]
    for name, row in zip(names, matrix):
        lines.append(f"{name:<{first_width}}  " + "  ".join(f"{count:>{w}}" for count, w in zip(row, widths)))
    return "\n".join(lines) + "\n"


# --- correlation ------------------------------------------------------------------------------------------

class UndefinedCorrelation(ValueError):
    """A correlation with a constant input: it would divide by a zero standard deviation.

    `constant` says which input is constant: "x", "y" or "x and y". The message reads
    "correlation is undefined: x is constant", ready to print.
    """

    def __init__(self, constant):
        self.constant = constant
        verb = "are" if " and " in constant else "is"
        super().__init__(f"correlation is undefined: {constant} {verb} constant")


def _as_vectors(x, y):
    x = np.asarray(_as_list(x), dtype=np.float64)
    y = np.asarray(_as_list(y), dtype=np.float64)
    if x.ndim != 1 or y.ndim != 1:
        raise ValueError("x and y must be flat sequences of numbers")
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} values but y has {len(y)}; they must match")
    if len(x) < 2:
        raise ValueError(f"a correlation needs at least 2 points, got {len(x)}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("x and y must not contain NaN or infinity")
    return x, y


def _pearson_of_vectors(x, y):
    dx, dy = x - x.mean(), y - y.mean()
    spread_x, spread_y = math.sqrt(np.dot(dx, dx)), math.sqrt(np.dot(dy, dy))
    constant = [name for name, spread in (("x", spread_x), ("y", spread_y)) if spread == 0]
    if constant:
        raise UndefinedCorrelation(" and ".join(constant))
    r = float(np.dot(dx, dy)) / (spread_x * spread_y)
    # Rounding can push a perfect correlation a hair past 1; the true value never leaves [-1, 1].
    return min(1.0, max(-1.0, r))


def pearson(x, y):
    """Pearson's r: the covariance of x and y divided by the product of their standard deviations."""
    return _pearson_of_vectors(*_as_vectors(x, y))


def average_ranks(values):
    """Ranks starting at 1; tied values share the average of the ranks they occupy:
    [5, 7, 7] -> [1, 2.5, 2.5]."""
    values = np.asarray(values, dtype=np.float64)
    distinct, group_of_value, group_sizes = np.unique(values, return_inverse=True, return_counts=True)
    first_rank = np.cumsum(group_sizes) - group_sizes + 1    # rank of the first member of each group
    group_rank = first_rank + (group_sizes - 1) / 2          # the average of first_rank .. last rank
    return group_rank[group_of_value]


def spearman(x, y):
    """Spearman's rho: Pearson's r of the average ranks, so any monotonic relation scores +-1."""
    x, y = _as_vectors(x, y)
    return _pearson_of_vectors(average_ranks(x), average_ranks(y))
