"""Every metric against an example worked out by hand; the arithmetic is in the comments."""
import math

import numpy as np
import pytest
import torch

from metrics import UndefinedCorrelation, average_ranks, classification_report, confusion_matrix, \
                    format_classification_report, format_confusion_matrix, pearson, spearman

NAMES = ["entailment", "neutral", "contradiction"]

# Eight pairs in which contradiction (2) is never predicted and entailment (0) is the most frequent class.
TRUE = [0, 0, 0, 0, 1, 1, 2, 2]
PRED = [0, 0, 0, 1, 1, 0, 0, 1]
# rows = true, columns = predicted:
#   true 0 -> predicted 0, 0, 0, 1    [3, 1, 0]
#   true 1 -> predicted 1, 0          [1, 1, 0]
#   true 2 -> predicted 0, 1          [1, 1, 0]
MATRIX = [[3, 1, 0], [1, 1, 0], [1, 1, 0]]


# --- confusion matrix -------------------------------------------------------------------------------------

def test_confusion_matrix_rows_are_true_columns_are_predicted():
    assert confusion_matrix(TRUE, PRED, [0, 1, 2]) == MATRIX


def test_confusion_matrix_follows_the_order_of_labels():
    # Reversing the labels reverses both the rows and the columns.
    assert confusion_matrix(TRUE, PRED, [2, 1, 0]) == [[0, 1, 1], [0, 1, 1], [0, 1, 3]]


def test_confusion_matrix_accepts_numpy_arrays():
    assert confusion_matrix(np.array(TRUE), np.array(PRED), np.array([0, 1, 2])) == MATRIX


def test_confusion_matrix_accepts_torch_tensors():
    # A tensor's elements are 0-d tensors that hash by identity, so they must become ints before lookup.
    assert confusion_matrix(torch.tensor(TRUE), torch.tensor(PRED), [0, 1, 2]) == MATRIX


def test_format_confusion_matrix_layout():
    assert format_confusion_matrix(MATRIX, NAMES) == (
        "true \\ predicted  entailment  neutral  contradiction\n"
        "entailment                 3        1              0\n"
        "neutral                    1        1              0\n"
        "contradiction              1        1              0\n")


# --- classification report --------------------------------------------------------------------------------

def test_classification_report_per_class_scores():
    report = classification_report(TRUE, PRED, [0, 1, 2], NAMES)
    # entailment: 3 right of 5 predicted (column sum 3+1+1), 3 found of 4 true (row sum);
    #   F1 = 2*3 / (2*3 + 2 false positives + 1 false negative) = 6/9
    assert report["entailment"] == pytest.approx(
        {"precision": 3 / 5, "recall": 3 / 4, "f1-score": 6 / 9, "support": 4})
    # neutral: 1 right of 3 predicted, 1 found of 2 true; F1 = 2 / (2 + 2 + 1) = 2/5
    assert report["neutral"] == pytest.approx(
        {"precision": 1 / 3, "recall": 1 / 2, "f1-score": 2 / 5, "support": 2})
    assert isinstance(report["neutral"]["support"], int)


def test_a_class_never_predicted_has_precision_and_f1_zero():
    report = classification_report(TRUE, PRED, [0, 1, 2], NAMES)
    # contradiction: predicted 0 times, so precision is 0/0, defined as 0; recall 0/2; F1 0.
    assert report["contradiction"] == {"precision": 0.0, "recall": 0.0, "f1-score": 0.0, "support": 2}


def test_accuracy_and_macro_and_weighted_averages():
    report = classification_report(TRUE, PRED, [0, 1, 2], NAMES)
    # 3 + 1 + 0 on the diagonal of 8 pairs.
    assert report["accuracy"] == 0.5
    assert list(report) == NAMES + ["accuracy", "macro avg", "weighted avg"]
    # macro: plain mean over the three classes
    #   precision (3/5 + 1/3 + 0) / 3 = 0.3111, recall (3/4 + 1/2 + 0) / 3 = 0.4167, F1 (6/9 + 2/5 + 0) / 3 = 0.3556
    assert report["macro avg"] == pytest.approx(
        {"precision": (3 / 5 + 1 / 3) / 3, "recall": (3 / 4 + 1 / 2) / 3, "f1-score": (6 / 9 + 2 / 5) / 3,
         "support": 8})
    # weighted by support 4, 2, 2 of 8:
    #   precision (4*3/5 + 2*1/3) / 8 = 0.3833, recall (4*3/4 + 2*1/2) / 8 = 0.5, F1 (4*6/9 + 2*2/5) / 8 = 0.4333
    assert report["weighted avg"] == pytest.approx(
        {"precision": (4 * 3 / 5 + 2 / 3) / 8, "recall": 0.5, "f1-score": (4 * 6 / 9 + 2 * 2 / 5) / 8,
         "support": 8})


def test_a_class_absent_from_y_true_keeps_its_row_and_weighted_differs_from_macro():
    # true [0, 0, 1, 1], predicted [0, 2, 1, 1]: class 2 is predicted once but never true.
    report = classification_report([0, 0, 1, 1], [0, 2, 1, 1], [0, 1, 2])
    # class 2: precision 0/1, recall 0/0 defined as 0, support 0
    assert report["2"] == {"precision": 0.0, "recall": 0.0, "f1-score": 0.0, "support": 0}
    # class 0: F1 = 2*1 / (2*1 + 0 + 1) = 2/3; class 1: F1 = 1.
    # macro F1 = (2/3 + 1 + 0) / 3 = 5/9; weighted F1 = (2*2/3 + 2*1 + 0*0) / 4 = 5/6:
    # the weighted average ignores the class with no support, the macro average counts it as a 0.
    assert report["macro avg"]["f1-score"] == pytest.approx(5 / 9)
    assert report["weighted avg"]["f1-score"] == pytest.approx(5 / 6)
    assert report["accuracy"] == 0.75


def test_report_names_default_to_the_labels_as_text():
    assert list(classification_report([1, 0], [1, 0], [0, 1]))[:2] == ["0", "1"]


@pytest.mark.parametrize("y_true, y_pred, labels, names, message", [
    ([], [], [0, 1, 2], None, "empty"),
    ([0, 1], [0], [0, 1, 2], None, "must match"),
    ([0, 3], [0, 1], [0, 1, 2], None, "not in labels"),
    ([0, 1], [0, 1], [0, 1, 1], None, "distinct"),
    ([0, 1], [0, 1], [0, 1, 2], ["a", "b"], "target_names"),
])
def test_classification_report_rejects_bad_input_clearly(y_true, y_pred, labels, names, message):
    with pytest.raises(ValueError, match=message):
        classification_report(y_true, y_pred, labels, names)


def test_format_classification_report_exact_layout():
    # scikit-learn's layout: names right-aligned to the widest of them and "weighted avg", four columns 9
    # wide, blank lines around the class rows, accuracy only in the F1 column.
    report = classification_report(TRUE, PRED, [0, 1, 2], NAMES)
    assert format_classification_report(report) == (
        "               precision    recall  f1-score   support\n"
        "\n"
        "   entailment       0.60      0.75      0.67         4\n"
        "      neutral       0.33      0.50      0.40         2\n"
        "contradiction       0.00      0.00      0.00         2\n"
        "\n"
        "     accuracy                           0.50         8\n"
        "    macro avg       0.31      0.42      0.36         8\n"
        " weighted avg       0.38      0.50      0.43         8\n")


def test_format_classification_report_digits_and_short_names():
    report = classification_report([0, 1, 1], [0, 1, 0], [0, 1])
    # class 0: precision 1/2, recall 1/1, F1 2/3; class 1: precision 1/1, recall 1/2, F1 2/3.
    # With names shorter than "weighted avg", that heading sets the width (12).
    assert format_classification_report(report, digits=3) == (
        "              precision    recall  f1-score   support\n"
        "\n"
        "           0      0.500     1.000     0.667         1\n"
        "           1      1.000     0.500     0.667         2\n"
        "\n"
        "    accuracy                          0.667         3\n"
        "   macro avg      0.750     0.750     0.667         3\n"
        "weighted avg      0.833     0.667     0.667         3\n")


# --- correlation ------------------------------------------------------------------------------------------

def test_pearson_hand_worked():
    # x = [1, 2, 3], y = [1, 3, 2]: both means 2, deviations [-1, 0, 1] and [-1, 1, 0];
    # covariance sum 1, squared sums 2 and 2, r = 1 / sqrt(2 * 2) = 0.5
    assert pearson([1, 2, 3], [1, 3, 2]) == pytest.approx(0.5)


def test_perfect_and_inverse_correlation():
    assert pearson([1, 2, 3, 4], [2, 4, 6, 8]) == pytest.approx(1.0)
    assert pearson([1, 2, 3, 4], [8, 6, 4, 2]) == pytest.approx(-1.0)
    assert spearman([1, 2, 3, 4], [8, 6, 4, 2]) == pytest.approx(-1.0)


def test_spearman_sees_any_monotonic_relation_pearson_does_not():
    x, y = [1, 2, 3, 4], [1, 10, 100, 1000]
    assert spearman(x, y) == pytest.approx(1.0)
    assert pearson(x, y) < 0.99


def test_average_ranks_share_ties():
    # 20 and 20 occupy ranks 2 and 3, so both get 2.5.
    assert average_ranks([10, 20, 20, 30]).tolist() == [1, 2.5, 2.5, 4]
    # 1 is first; the three 3s occupy ranks 2, 3, 4 and share 3.
    assert average_ranks([3, 1, 3, 3]).tolist() == [3, 1, 3, 3]


def test_spearman_with_ties_is_pearson_of_average_ranks():
    # ranks of x = [1, 2, 2, 3] are [1, 2.5, 2.5, 4]; ranks of y are [1, 2, 3, 4]; both means 2.5.
    # deviations [-1.5, 0, 0, 1.5] and [-1.5, -0.5, 0.5, 1.5]: covariance sum 2.25 + 2.25 = 4.5,
    # squared sums 4.5 and 5, rho = 4.5 / sqrt(4.5 * 5) = sqrt(0.9) = 0.9487.
    # (The no-ties shortcut 1 - 6 * sum(d^2) / (n (n^2 - 1)) would give 1 - 6 * 0.5 / 60 = 0.95.)
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(math.sqrt(0.9))


@pytest.mark.parametrize("correlation", [pearson, spearman])
@pytest.mark.parametrize("x, y, constant", [
    ([2, 2, 2], [1, 2, 3], "x"),
    ([1, 2, 3], [5.0, 5.0, 5.0], "y"),
    ([1, 1], [1, 1], "x and y"),
])
def test_constant_input_makes_the_correlation_undefined(correlation, x, y, constant):
    with pytest.raises(UndefinedCorrelation, match=f"undefined: {constant} (is|are) constant") as raised:
        correlation(x, y)
    assert raised.value.constant == constant
    assert isinstance(raised.value, ValueError)


@pytest.mark.parametrize("correlation", [pearson, spearman])
@pytest.mark.parametrize("x, y, message", [
    ([1, 2, 3], [1, 2], "must match"),
    ([1], [1], "at least 2"),
    ([1, 2, float("nan")], [1, 2, 3], "NaN"),
])
def test_correlation_rejects_bad_input_with_a_plain_value_error(correlation, x, y, message):
    with pytest.raises(ValueError, match=message) as raised:
        correlation(x, y)
    assert not isinstance(raised.value, UndefinedCorrelation)
