"""What a request may send, checked: the JSON or form body of a POST and the fields of a URL, turned into the
values serve.py works with, or an HttpError (status and a message for the person who sent it) that says
which field is wrong and how.
"""
import json
import unicodedata
from urllib.parse import parse_qs

from agree.web.pages import DEFAULT_K, MAX_FIELD_CHARS, MAX_K

FIELDS = ("premise", "hypothesis")


class HttpError(Exception):
    """An answer other than 200, with a message for the person who sent the request."""

    def __init__(self, status, message, headers=()):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


def parse_json_body(body):
    try:
        return json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise HttpError(400, "the request body is not valid UTF-8") from None
    except (ValueError, RecursionError) as error:  # ValueError: also a number of more than 4,300 digits
        raise HttpError(400, f"the request body is not valid JSON ({error})") from None


def parse_form_body(body):
    """Form fields as {name: first value}; percent-escapes must decode to UTF-8 too."""
    if body.lstrip().startswith(b"{"):  # `curl -d '{...}'` sends JSON labelled as a form
        raise HttpError(400, "the body looks like JSON: send it with Content-Type: application/json")
    try:
        return parse_fields(body.decode("utf-8"), "the form")
    except UnicodeDecodeError:
        raise HttpError(400, "the form is not valid UTF-8") from None


def parse_fields(text, where):
    """`a=1&b=2` (a form body or a URL's query) as {name: first value}."""
    try:
        fields = parse_qs(text, keep_blank_values=True, errors="strict", max_num_fields=20)
    except UnicodeDecodeError:
        raise HttpError(400, f"{where} is not valid UTF-8") from None
    except ValueError:
        raise HttpError(400, f"{where} has too many fields") from None
    return {name: values[0] for name, values in fields.items()}


def checked_text(values, field):
    """The text of a required field, or an HttpError naming the field and what is wrong with it."""
    if field not in values:
        raise HttpError(400, f"missing field: {field}")
    text = values[field]
    if not isinstance(text, str):
        raise HttpError(400, f"{field} must be a string, not {json.dumps(text)[:40]}")
    if not visible(text):
        raise HttpError(400, f"{field} is empty" + (" (it holds only invisible or control characters)"
                                                    if text.strip() else ""))
    if len(text) > MAX_FIELD_CHARS:
        raise HttpError(413, f"{field} is longer than {MAX_FIELD_CHARS:,} characters")
    try:
        text.encode("utf-8")  # JSON can smuggle in lone surrogates, which no page could show
    except UnicodeEncodeError:
        raise HttpError(400, f"{field} is not valid Unicode text") from None
    return text


def visible(text):
    """Whether any character of `text` shows: not a space, a control character or an invisible format
    character (a zero-width space or joiner, a byte-order mark, a direction mark). Text made only of those
    reads as nothing, and a label given to it would be a confident answer to an empty question."""
    return any(not character.isspace() and unicodedata.category(character) not in ("Cc", "Cf")
               for character in text)


def sentence_pair(values):
    """The premise and hypothesis from a parsed body, or an HttpError naming the field at fault."""
    if not isinstance(values, dict):
        raise HttpError(400, 'the body must be a JSON object: {"premise": "...", "hypothesis": "..."}')
    return tuple(checked_text(values, field) for field in FIELDS)


def search_request(values):
    """The query and the number of results from a parsed body or URL, or an HttpError saying what is wrong."""
    if not isinstance(values, dict):
        raise HttpError(400, 'the body must be a JSON object: {"q": "...", "k": 10}')
    query = checked_text(values, "q")
    k = values.get("k", DEFAULT_K)
    if isinstance(k, str) and k.strip().isascii() and k.strip().isdigit() and len(k.strip()) <= 3:
        k = int(k)
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_K:
        raise HttpError(400, f"k must be a whole number from 1 to {MAX_K}, not {json.dumps(k)[:40]}")
    return query, k


def flag(values, field):
    """A yes/no field: absent, false, 0 or "" is no; true, 1 or "on" (a checked box) is yes."""
    value = values.get(field, False)
    if value in (False, 0, "", "0", "false") and not isinstance(value, float):
        return False
    if value in (True, 1, "1", "true", "on") and not isinstance(value, float):
        return True
    raise HttpError(400, f"{field} must be true or false (1 or 0), not {json.dumps(value)[:40]}")
