"""agree/web/occlusion.py: each word's effect equals the prediction made directly on the sentence without that word."""
import pytest
import torch
from tiny_sbert import untrained_model

from agree.web import occlusion
from agree.web.occlusion import explain, words_read
from agree.web.packing import predict_ids
from data import CLS_ID, SEP_ID

PAIRS = [("a man is playing guitar on the stage", "the man is sleeping"),
         ("the dog runs", "a dog is playing music"),
         ("a woman", "woman"),
         ("a dog is playing music", "a man is playing guitar on the stage")]  # packed and padded differ a little


@pytest.fixture(scope="module")
def model():
    return untrained_model(seed=3)


def assert_same_prediction(prediction, wanted):
    """The same prediction up to float rounding (the server packs the pair into one row; predict pads it)."""
    assert prediction.label == wanted.label
    assert prediction.probabilities == pytest.approx(wanted.probabilities, abs=1e-6)
    assert prediction.cosine_similarity == pytest.approx(wanted.cosine_similarity, abs=1e-6)


def without(sentence, i):
    words = sentence.split()
    return " ".join(words[:i] + words[i + 1:])


@pytest.mark.parametrize("premise, hypothesis", PAIRS)
def test_each_words_effect_is_the_prediction_on_the_sentence_without_it(model, premise, hypothesis):
    explanation = explain(model, premise, hypothesis)
    assert explanation.prediction == predict_ids(model, [model.tokenize([premise, hypothesis])])[0]  # as /predict
    assert_same_prediction(explanation.prediction, model.predict(premise, hypothesis))
    label = explanation.prediction.label
    with_every_word = explanation.prediction.probabilities[label]
    assert [e.word for e in explanation.premise] == premise.split()
    assert [e.word for e in explanation.hypothesis] == hypothesis.split()
    for i, effect in enumerate(explanation.premise):
        direct = model.predict(without(premise, i), hypothesis).probabilities[label]
        assert effect.probability_without == pytest.approx(direct, abs=1e-6)
        assert effect.change == pytest.approx(direct - with_every_word, abs=1e-6)
    for i, effect in enumerate(explanation.hypothesis):
        direct = model.predict(premise, without(hypothesis, i)).probabilities[label]
        assert effect.probability_without == pytest.approx(direct, abs=1e-6)
        assert effect.change == pytest.approx(direct - with_every_word, abs=1e-6)


def test_the_effects_are_not_all_alike(model):
    """The fixture is worth testing on: leaving out different words moves the probability differently."""
    changes = [e.change for e in explain(model, *PAIRS[0]).premise]
    assert max(changes) - min(changes) > 1e-3


def test_the_json_holds_the_prediction_and_every_word(model):
    answer = explain(model, "the dog runs", "a dog").to_dict()
    assert set(answer) == {"label", "probabilities", "cosine_similarity", "explanation"}
    assert [e["word"] for e in answer["explanation"]["premise"]] == ["the", "dog", "runs"]
    assert set(answer["explanation"]["hypothesis"][1]) == {"word", "probability_without", "change"}


@torch.inference_mode()
def test_one_word_left_out_of_a_one_word_sentence_leaves_cls_and_sep(model):
    explanation = explain(model, "dog", "the dog")
    [effect] = explanation.premise
    u = model.encode([[CLS_ID, SEP_ID]])
    v = model.encode(["the dog"])
    probabilities = model.head(u, v).softmax(-1)[0]
    index = list(explanation.prediction.probabilities).index(explanation.prediction.label)
    assert effect.probability_without == pytest.approx(probabilities[index].item(), abs=1e-6)


def test_words_are_shown_as_the_tokenizer_reads_them_unknown_ones_spelled_out(model):
    explanation = explain(model, "A Sidewalk, the Dog!", "dog")
    assert [e.word for e in explanation.premise] == ["a", "sidewalk", ",", "the", "dog", "!"]


def test_only_the_words_the_model_reads_are_explained(model):
    long_sentence = " ".join(["dog"] * 100)  # the tiny preset reads 64 positions: [CLS], 62 words, [SEP]
    assert len(explain(model, long_sentence, "a dog").premise) == 62


def test_tokens_that_are_not_the_word_split_are_shown_as_tokens(model):
    dog = model.vocab.ids["dog"]
    assert words_read(model, "a man", [CLS_ID, dog, SEP_ID]) == ["dog"]


def test_a_long_sentence_is_explained_in_steps_of_at_most_step_tokens_with_the_same_answer(model, monkeypatch):
    premise, hypothesis = " ".join(["dog", "man", "runs"] * 10), "a man is playing guitar"
    whole = explain(model, premise, hypothesis)
    monkeypatch.setattr(occlusion, "STEP_TOKENS", 100)
    steps = []

    def compute(name, *arguments):
        steps.append((name, arguments))
        return occlusion.STEPS[name](model, *arguments)

    stepped = explain(model, premise, hypothesis, compute)
    shortened = [(len(arguments[-1]), len(arguments[0]) - 1) for name, arguments in steps  # (ids, ..., positions)
                 if name == "probabilities_without"]
    assert len(shortened) == 10 + 1  # 30 premise words of 31 tokens, 3 a step; the hypothesis in one
    assert all(rows * tokens <= 100 for rows, tokens in shortened)
    assert stepped.prediction == whole.prediction
    for side in ("premise", "hypothesis"):
        assert [e.word for e in getattr(stepped, side)] == [e.word for e in getattr(whole, side)]
        assert [e.probability_without for e in getattr(stepped, side)] == \
            pytest.approx([e.probability_without for e in getattr(whole, side)], abs=1e-6)
