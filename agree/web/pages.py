"""The HTML pages of serve.py: the two-box form with its answer and why, the Search page, the model card.

Every page is a string.Template filled with escaped text; the style and the script carry the nonce that the
server's Content-Security-Policy names, so nothing else on the page may run or style it.
"""
import html
import json
import re
from string import Template

from agree.quantize import count_parameters, int8_layers
from data import LABELS

MAX_FIELD_CHARS = 2000  # the boxes' maxlength; serve.py refuses longer fields too
DEFAULT_K, MAX_K = 10, 100  # search results: how many unless asked, and the most one may ask for
# A word's shade: how many of these steps the change of probability without it reaches (0 to 4 shades)
SHADE_STEPS = (0.01, 0.03, 0.1, 0.3)
CHART_NAME = re.compile(r"[A-Za-z0-9_.-]+\.svg")  # a plain file name: no slashes, so no way out of the folder
EXAMPLES = (  # (premise, hypothesis, what a good model should answer)
    ("A man is playing a guitar on stage.", "The man is performing music.", "entailment"),
    ("A dog is running through the snow.", "The dog is asleep on the sofa.", "contradiction"),
    ("A woman is reading a book in the park.", "The woman is waiting for a friend.", "neutral"),
)


STYLE = """
body { font: 1rem/1.5 system-ui, sans-serif; max-width: 42rem; margin: 0 auto; padding: 1rem; color: #222; }
nav a { margin-right: 1rem; } label { display: block; font-weight: 600; margin-top: 0.75rem; }
textarea, button { box-sizing: border-box; font: inherit; padding: 0.4rem; } textarea { width: 100%; }
button { margin-top: 0.5rem; padding: 0.4rem 1rem; cursor: pointer; } .error { color: #a00; font-weight: 600; }
.examples { padding: 0; list-style: none; } .examples button { text-align: left; width: 100%; }
table { border-collapse: collapse; } td, th { text-align: left; padding: 0.1rem 0.8rem 0.1rem 0; }
.bars { width: 100%; } .bars td { white-space: nowrap; padding-right: 1rem; } .bars td:nth-child(2) { width: 100%; }
meter { width: 100%; height: 1.2rem; } img { max-width: 100%; height: auto; }
pre { white-space: pre-wrap; background: #f6f6f6; padding: 0.6rem; }
.words span { padding: 0 0.15rem; border-radius: 0.2rem; line-height: 1.8; } .note { font-size: 0.9rem; }
.for1 { background: #fde6d2; } .for2 { background: #fbcb9f; } .for3 { background: #f7a762; }
.for4 { background: #ef8a2f; } .against1 { background: #dde9f7; } .against2 { background: #b7d2f0; }
.against3 { background: #88b4e6; } .against4 { background: #5d97db; }
input[type=search] { width: 100%; box-sizing: border-box; font: inherit; padding: 0.4rem; }
.results li { margin: 0.3rem 0; }
.cosine { font-variant-numeric: tabular-nums; color: #555; margin-right: 0.6rem; }
"""

# Every form on the page posts a premise and a hypothesis; with JavaScript the answer comes from the JSON API
# and is written into the page with textContent (never innerHTML, so no text is ever read as markup).
SCRIPT = """
const pair = document.getElementById("pair").elements;
for (const form of document.querySelectorAll("form")) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    pair.premise.value = data.get("premise");
    pair.hypothesis.value = data.get("hypothesis");
    ask(pair.premise.value, pair.hypothesis.value);
  });
}
async function ask(premise, hypothesis) {
  let answer;
  try {
    const body = JSON.stringify({premise, hypothesis, explain: true});
    const response = await fetch("/predict", {method: "POST", body,
      headers: {"Content-Type": "application/json", "Accept": "application/json"}});
    answer = await response.json();
  } catch (error) {
    answer = {error: "No answer from the server: " + error.message};
  }
  show(answer);
}
function show(answer) {
  const error = document.getElementById("error");
  error.hidden = !answer.error;
  error.textContent = answer.error || "";
  document.getElementById("result").hidden = Boolean(answer.error);
  if (answer.error) return;
  document.getElementById("label").textContent = answer.label;
  for (const [label, probability] of Object.entries(answer.probabilities)) {
    document.getElementById("meter-" + label).value = probability;
    document.getElementById("percent-" + label).textContent = (100 * probability).toFixed(1) + "%";
  }
  document.getElementById("cosine").textContent = answer.cosine_similarity.toFixed(3);
  document.getElementById("why").hidden = !answer.explanation;
  if (!answer.explanation) return;
  for (const label of document.querySelectorAll(".why-label")) label.textContent = answer.label;
  for (const sentence of ["premise", "hypothesis"]) {
    const words = document.getElementById("why-" + sentence);
    words.replaceChildren();
    for (const effect of answer.explanation[sentence]) {
      const span = document.createElement("span");
      span.className = shade(effect.change);
      span.title = hover(answer.label, effect);
      span.textContent = effect.word;
      words.append(span, " ");
    }
  }
}
// The same shades and words as pages.py's shade() and hover(), for answers the script fills in.
function shade(change) {
  const level = SHADE_STEPS.filter((step) => Math.abs(change) >= step).length;
  return level ? (change < 0 ? "for" : "against") + level : "";
}
function hover(label, effect) {
  const sign = effect.change < 0 ? "\u2212" : "+";
  return "without this word: P(" + label + ") = " + effect.probability_without.toFixed(3) +
    " (" + sign + Math.abs(effect.change).toFixed(3) + ")";
}
""".replace("SHADE_STEPS", json.dumps(SHADE_STEPS), 1)

LAYOUT = Template("""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<style nonce="$nonce">$style</style>
</head>
<body>
<nav><a href="/">Compare two sentences</a><a href="/search">Search</a><a href="/about">About the model</a></nav>
<main>
$main
</main>
$script
</body>
</html>
""")

INDEX = Template("""<h1>Do these sentences agree?</h1>
<form id="pair" method="post" action="/predict">
<label for="premise">Premise</label>
<textarea id="premise" name="premise" rows="3" maxlength="$max_chars" required>$premise</textarea>
<label for="hypothesis">Hypothesis</label>
<textarea id="hypothesis" name="hypothesis" rows="3" maxlength="$max_chars" required>$hypothesis</textarea>
<input type="hidden" name="explain" value="1">
<button type="submit">Compare</button>
</form>
<p id="error" class="error" role="alert" $error_hidden>$error</p>
<section id="result" aria-live="polite" $result_hidden>
<h2>Answer: <span id="label">$label</span></h2>
<table class="bars">
$bars
</table>
<p>Cosine similarity of the two sentence embeddings: <strong id="cosine">$cosine</strong></p>
<section id="why" $why_hidden>
<h3>Why: what each word does to <span class="why-label">$label</span></h3>
<p class="words"><strong>Premise:</strong> <span id="why-premise">$premise_words</span></p>
<p class="words"><strong>Hypothesis:</strong> <span id="why-hypothesis">$hypothesis_words</span></p>
<p class="note">Each word is shaded by how much the probability of <span class="why-label">$label</span> changes
when that word alone is left out of its sentence: <span class="for3">orange</span>, it falls (the word spoke
for the answer); <span class="against3">blue</span>, it rises (the word spoke against it). Hover over a word
for the numbers. Words are shown as the model reads them: lower-cased, cut at its length limit. This is a
measurement of this model on this pair, one word at a time, not a proof of how it reasons: words that matter
only together, such as a negation and what it negates, can each look unimportant.</p>
</section>
</section>
<h2>Examples</h2>
<ul class="examples">
$examples
</ul>
""")


def render(title, main, nonce, script=False):
    script_tag = f'<script nonce="{nonce}">{SCRIPT}</script>' if script else ""
    return LAYOUT.substitute(title=html.escape(title), nonce=nonce, style=STYLE, main=main, script=script_tag)


def index_page(nonce, premise="", hypothesis="", prediction=None, error=None, explanation=None):
    """The two boxes (refilled with what was sent), the answer and why (when there is an explanation) or the
    error, the examples."""
    probabilities = prediction.probabilities if prediction else dict.fromkeys(LABELS, 0.0)
    bars = "\n".join(
        f'<tr><td><label for="meter-{label}">{label}</label></td>'
        f'<td><meter id="meter-{label}" min="0" max="1" value="{p:.4f}"></meter></td>'
        f'<td id="percent-{label}">{100 * p:.1f}%</td></tr>' for label, p in probabilities.items())
    examples = "\n".join(
        f'<li><form method="post" action="/predict">'
        f'<input type="hidden" name="premise" value="{html.escape(p)}">'
        f'<input type="hidden" name="hypothesis" value="{html.escape(h)}">'
        f'<input type="hidden" name="explain" value="1">'
        f'<button type="submit">{html.escape(p)} → {html.escape(h)} <small>({expected})</small></button>'
        f'</form></li>' for p, h, expected in EXAMPLES)
    main = INDEX.substitute(
        max_chars=MAX_FIELD_CHARS, premise=html.escape(premise), hypothesis=html.escape(hypothesis),
        error_hidden="" if error else "hidden", error=html.escape(error or ""),
        result_hidden="" if prediction else "hidden", label=prediction.label if prediction else "",
        bars=bars, cosine=f"{prediction.cosine_similarity:.3f}" if prediction else "", examples=examples,
        why_hidden="" if explanation else "hidden",
        premise_words=shaded_words(explanation.premise, prediction.label) if explanation else "",
        hypothesis_words=shaded_words(explanation.hypothesis, prediction.label) if explanation else "")
    return render("agree: do these sentences agree?", main, nonce, script=True)


def shaded_words(effects, label):
    """Each word in a span whose class shades it (explain.WordEffect: how leaving it out moves the label's
    probability) and whose title gives the numbers."""
    return " ".join(f'<span class="{shade(effect.change)}" title="{html.escape(hover(label, effect))}">'
                    f'{html.escape(effect.word)}</span>' for effect in effects)


def shade(change):
    """"for1".."for4" when leaving the word out lowers the probability, "against1".."against4" when it
    raises it, "" when the change is below the first step."""
    level = sum(abs(change) >= step for step in SHADE_STEPS)
    return f"{'for' if change < 0 else 'against'}{level}" if level else ""


def hover(label, effect):
    sign = "\u2212" if effect.change < 0 else "+"
    return f"without this word: P({label}) = {effect.probability_without:.3f} ({sign}{abs(effect.change):.3f})"


SEARCH = Template("""<h1>Search by meaning</h1>
$about_index
<form method="get" action="/search">
<label for="q">Sentences that mean something like</label>
<input id="q" name="q" type="search" maxlength="$max_chars" value="$query" required>
<label for="k">How many</label>
<input id="k" name="k" type="number" min="1" max="$max_k" value="$k">
<button type="submit">Search</button>
</form>
<p id="error" class="error" role="alert" $error_hidden>$error</p>
$results
""")


def search_page(nonce, index, query="", k=DEFAULT_K, results=None, error=None):
    """The search form (refilled with what was sent), what the index holds or how to add one, the results
    (sentence and cosine, best first) or the error."""
    if index is None:
        about_index = ("<p>This server has no sentences to search. Start it with <code>python serve.py --model "
                       "DIR --index FILE</code>, where FILE is a .txt or .gz file with one sentence per line, or "
                       "a data set such as <code>snli:test</code> (its distinct sentences); <code>make demo</code>"
                       " does this.</p>")
    else:
        about_index = (f"<p>{len(index):,} sentences of <strong>{html.escape(index.name)}</strong>, each encoded "
                       "once when the server started. A search encodes only your query and ranks them all by "
                       "the cosine of its embedding with theirs: one forward pass per query, not one per pair. "
                       "That is what Sentence-BERT was made for.</p>")
    rows = "\n".join(f'<li><span class="cosine">{cosine:.3f}</span>{html.escape(sentence)}</li>'
                      for sentence, cosine in results or ())
    main = SEARCH.substitute(
        about_index=about_index, max_chars=MAX_FIELD_CHARS, query=html.escape(query), max_k=MAX_K,
        k=html.escape(str(k)), error_hidden="" if error else "hidden", error=html.escape(error or ""),
        results=f'<ol class="results">\n{rows}\n</ol>' if results else "")
    return render("agree: search by meaning", main, nonce)


def settings_table(values, prefix=""):
    """Rows of name and value for a JSON object; nested objects get dotted names (bert.d_model)."""
    rows = []
    for name, value in values.items():
        if isinstance(value, dict):
            rows.append(settings_table(value, f"{prefix}{name}."))
        else:
            shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
            rows.append(f"<tr><th>{html.escape(prefix + str(name))}</th><td>{html.escape(shown)}</td></tr>")
    table = "\n".join(rows)
    return table if prefix else f"<table>\n{table}\n</table>"


def read_optional(path):
    """The text of a file the checkpoint may or may not hold (evaluate.py writes its report later)."""
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def chart_names(model_dir):
    return sorted(p.name for p in model_dir.glob("*.svg") if CHART_NAME.fullmatch(p.name) and p.is_file())


def about_page(nonce, model, model_dir):
    """The model card, read from the checkpoint directory on every visit, so a new report shows at once."""
    int8 = int8_layers(model)
    precision = f" (the encoder's {int8} linear layers in int8, the rest in fp32)" if int8 else " (fp32)"
    parts = [f"<h1>About the model</h1>\n<p>Checkpoint <strong>{html.escape(model_dir.name)}</strong>, "
             f"{count_parameters(model):,} parameters{precision}.</p>",
             "<h2>Configuration (config.json)</h2>", settings_table(model.config.to_dict())]
    arguments = read_optional(model_dir / "args.json")
    if arguments is not None:
        parts.append("<h2>Training (args.json)</h2>")
        try:
            parts.append(settings_table(json.loads(arguments)))
        except (json.JSONDecodeError, AttributeError):  # broken or not an object: show it as it is
            parts.append(f"<pre>{html.escape(arguments)}</pre>")
    report = read_optional(model_dir / "report.md")
    if report is not None:
        parts += ["<h2>Evaluation (report.md)</h2>", f"<pre>{html.escape(report)}</pre>"]
    charts = chart_names(model_dir)
    if charts:
        parts.append("<h2>Charts</h2>")
        parts += [f'<figure><img src="/charts/{name}" alt="chart {name}"><figcaption>{name}</figcaption>'
                  f"</figure>" for name in charts]  # CHART_NAME allows no character that needs escaping
    if arguments is None and report is None and not charts:
        parts.append("<p>No training arguments, evaluation report or charts in this checkpoint yet: "
                     "finetune.py writes args.json, evaluate.py writes report.md and the charts.</p>")
    return render("agree: about the model", "\n".join(parts), nonce)
