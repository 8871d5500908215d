"""The shape of the code (../shared/DESIGN.md, "Shape of the code"): the root holds the ideas, the machinery sits
behind them in agree/, imports point one way, and product code says why rather than what a machine measured.
Each check reads the files as they are; the tests at the bottom show that each check catches what it names."""
import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IDEAS = ("bert.py", "data.py", "sbert.py", "pretrain.py", "finetune.py", "evaluate.py", "serve.py")
SCRIPTS = ("pretrain", "finetune", "evaluate", "serve")  # entry points: nothing imports them
MAX_ROOT_FILES = 9
MAX_LINES = 400
# A timing, a processor or a date belongs in docs/, where the machine and the day are said with it.
MEASUREMENT = re.compile(r"[0-9] ?ms\b|EPYC|Xeon|AMX|20[0-9]{2}-[0-9]{2}-[0-9]{2}")


def product_files(root=ROOT):
    """The root's .py files and everything under agree/: what a user runs and imports."""
    return sorted(root.glob("*.py")) + sorted((root / "agree").rglob("*.py"))


def imported_modules(path):
    """The top-level names of the modules a file imports (`from agree.web import pages` -> agree.web)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module)
    return names


def layout_problems(root=ROOT):
    problems = []
    at_root = sorted(path.name for path in root.glob("*.py"))
    if len(at_root) > MAX_ROOT_FILES:
        problems.append(f"{len(at_root)} .py files at the root (at most {MAX_ROOT_FILES}): {', '.join(at_root)}")
    problems += [f"{idea} is missing from the root" for idea in IDEAS if idea not in at_root]
    for package in sorted({path.parent for path in (root / "agree").rglob("*.py")}):
        init = package / "__init__.py"
        if not init.exists() or ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) is None:
            problems.append(f"{init.relative_to(root)} does not open with a docstring saying what is inside")
    return problems


def module_problems(root=ROOT):
    problems = []
    for path in product_files(root):
        name, text = path.relative_to(root), path.read_text(encoding="utf-8")
        if text.count("\n") > MAX_LINES:
            problems.append(f"{name} has {text.count(chr(10))} lines (at most {MAX_LINES})")
        for number, line in enumerate(text.splitlines(), start=1):
            if MEASUREMENT.search(line):
                problems.append(f"{name}:{number} cites a measurement: {line.strip()}")
    return problems


def import_problems(root=ROOT):
    """Scripts use the machinery; the machinery never imports a script; no script imports another."""
    problems = []
    for path in product_files(root):
        for module in sorted(imported_modules(path) & set(SCRIPTS)):
            problems.append(f"{path.relative_to(root)} imports the script {module}.py")
    for path in sorted((root / "tests").glob("*.py")):
        for module in sorted(m for m in imported_modules(path) if m.startswith("test_")):
            problems.append(f"{path.relative_to(root)} imports the test module {module} (share fixtures through "
                            "conftest.py or a helper module)")
    return sorted(problems)


def test_the_root_holds_the_ideas_and_each_machinery_folder_says_what_it_holds():
    assert layout_problems() == []


def test_product_modules_are_short_and_cite_no_measurements():
    assert module_problems() == []


def test_imports_point_one_way():
    assert import_problems() == []


# --- The checks catch what they name ------------------------------------------------------------------------

def write(root, name, text):
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def a_good_tree(root):
    for idea in IDEAS:
        write(root, idea, '"""An idea."""\n')
    write(root, "agree/__init__.py", '"""What the machinery holds."""\n')
    write(root, "tests/test_bert.py", "import bert\n")
    return root


def test_a_good_tree_passes(tmp_path):
    root = a_good_tree(tmp_path)
    assert layout_problems(root) == module_problems(root) == import_problems(root) == []


def test_a_crowded_root_a_missing_idea_and_a_silent_folder_are_named(tmp_path):
    root = a_good_tree(tmp_path)
    for i in range(4):
        write(root, f"extra{i}.py", "")
    (root / "sbert.py").unlink()
    write(root, "agree/web/__init__.py", "import os\n")
    problems = layout_problems(root)
    assert any("10 .py files at the root" in problem for problem in problems)
    assert "sbert.py is missing from the root" in problems
    assert any(problem.startswith("agree/web/__init__.py does not open with a docstring") for problem in problems)


def test_a_long_module_and_a_measurement_are_named(tmp_path):
    root = a_good_tree(tmp_path)
    write(root, "agree/long.py", "x = 1\n" * (MAX_LINES + 1))
    write(root, "agree/timed.py", "# a pass takes 13.1 ms on this Xeon\n")
    problems = module_problems(root)
    assert f"agree/long.py has {MAX_LINES + 1} lines (at most {MAX_LINES})" in problems
    assert any(problem.startswith("agree/timed.py:1 cites a measurement") for problem in problems)


def test_a_script_imported_and_a_test_module_imported_are_named(tmp_path):
    root = a_good_tree(tmp_path)
    write(root, "agree/helper.py", "from pretrain import main\n")
    write(root, "evaluate.py", "import finetune\n")
    write(root, "tests/test_other.py", "from test_bert import something\n")
    assert import_problems(root) == ["agree/helper.py imports the script pretrain.py",
                                     "evaluate.py imports the script finetune.py",
                                     "tests/test_other.py imports the test module test_bert (share fixtures "
                                     "through conftest.py or a helper module)"]
