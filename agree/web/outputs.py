"""The model's answers are numbers before they are sent: NaN or infinity is an error, never a verdict.

Damaged weights (a disk error, a bad copy) can make the model answer NaN for any sentence with the word
whose row is damaged, and only for those. Sent on, NaN is not JSON at all (the page's script fails on it)
and a page shows "nan%". So every number of an answer, the probabilities, the cosine, the search scores and
each word's change in an explanation, is checked here first, and a value that is not a finite number is a
500 that says what happened; the server's log gets a line too.
"""
import math
import sys

from agree.web.request_fields import HttpError

MESSAGE = ("the model answered with a value that is not a number (NaN or infinity), so there is no answer to "
           "give: its weights may be damaged; see the server's log")


class NotANumber(HttpError):
    def __init__(self):
        super().__init__(500, MESSAGE)


def numbers(value):
    """Every number in a JSON-like value (dicts, lists, tuples, numbers, strings)."""
    if isinstance(value, float | int) and not isinstance(value, bool):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from numbers(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from numbers(item)


def checked(answer):
    """`answer` (a JSON-like value) if every number in it is finite; else NotANumber, after a line in the log."""
    if all(math.isfinite(number) for number in numbers(answer)):
        return answer
    print("the model answered NaN or infinity: its weights may be damaged", file=sys.stderr, flush=True)
    raise NotANumber()
