"""Every default has one definition, in the library's core; the header documents it and the
binding defers to it.

- include/dirrm.h: every field of every dirrm_*_params struct documents what its _params_init
  writes, in one form ("default V", "required", or for a nested struct "default as
  dirrm_X_params_init except field V, ..."), and _params_init writes exactly that.
- The Python binding: every keyword whose value ends up in a params struct, or that stands
  for a struct field's default, defaults to None (the library's default). Which keywords those
  are is derived from the package's source, not listed here.
"""

import ast
import ctypes
import importlib
import inspect
import os
import re

import numpy as np
import pytest

import dirrm
from dirrm import _lib, _params
from conftest import REPO

HEADER = f"{REPO}/include/dirrm.h"
PHRASE = "None: the library's default (see dirrm.h)"


# ---------------------------------------------------------------------------------------------
# The header
# ---------------------------------------------------------------------------------------------

def header_text():
    with open(HEADER) as file:
        return file.read()


def constants(text):
    return {name: int(value) for name, value in re.findall(r"^#define (DIRRM_\w+) (-?\d+)\s*(?:/\*|$)", text, re.M)}


_DECLARATION = re.compile(
    r"\s*(?P<type>\w+)\s+(?P<names>\w+(?:\s*,\s*\w+)*)\s*;[ \t]*(?:/\*(?P<comment>.*?)\*/)?", re.S)


def header_structs(text):
    """{struct name: [(field, C type, comment or None)]} of every dirrm_*_params struct."""
    structs = {}
    for name, body in re.findall(r"typedef struct (dirrm_\w+_params) \{(.*?)\} \1;", text, re.S):
        fields, position = [], 0
        while body[position:].strip():
            match = _DECLARATION.match(body, position)
            assert match, f"{name}: cannot parse the declaration at {body[position:position + 60]!r}"
            for field in re.split(r"\s*,\s*", match["names"]):
                fields.append((field, match["type"], match["comment"]))
            position = match.end()
        structs[name] = fields
    return structs


def parse_value(token, defines):
    """A documented value: a DIRRM_* constant or a number (kept as text for the C type to read)."""
    if token.startswith("DIRRM_"):
        assert token in defines, f"default {token} is not a constant of the header"
        return defines[token]
    assert re.fullmatch(r"-?\d+(?:\.\d*)?(?:e-?\d+)?", token), f"default {token!r} is neither a number nor a constant"
    return token


def documented(struct, structs, defines):
    """{field: value (text or int), None for a required field, or a dict for a nested struct}."""
    out = {}
    for field, ctype, comment in structs[struct]:
        if field == "struct_size":
            continue
        assert comment is not None, f"{struct}.{field} has no comment documenting its default"
        words = " ".join(comment.split())
        count = len(re.findall(r"\bdefault\b", words))
        assert count <= 1, f"{struct}.{field}: more than one 'default' in {words!r}"
        if ctype in structs:
            nested = re.search(r"\bdefault as (dirrm_\w+_params)_init(?: except (.*?))?\s*$", words)
            assert nested and nested[1] == ctype, \
                f"{struct}.{field}: a nested {ctype} needs 'default as {ctype}_init [except field V, ...]'"
            value = documented(ctype, structs, defines)
            for item in filter(None, re.split(r"\s*,\s*", nested[2] or "")):
                key, token = item.split()
                assert key in value, f"{struct}.{field}: 'except {key}' names no field of {ctype}"
                value[key] = parse_value(token, defines)
            out[field] = value
        elif count == 1:
            match = re.search(r"\bdefault (\S+?)\s*$", words)
            assert match, f"{struct}.{field}: 'default V' must end the comment, got {words!r}"
            out[field] = parse_value(match[1], defines)
        else:
            assert re.search(r"\brequired\b", words), f"{struct}.{field} documents no default: {words!r}"
            out[field] = None
    return out


def struct_name(kind):
    return _params.INIT[kind][: -len("_init")]


def compare(struct, kind, actual, expected, path=""):
    """Every field of the ctypes struct `actual` against the documented `expected`."""
    assert actual.struct_size == ctypes.sizeof(kind), f"{path}struct_size"
    for field, ctype in kind._fields_:
        if field == "struct_size":
            continue
        value = getattr(actual, field)
        want = expected["lambda" if field == "lam" else field]
        where = f"{struct}: {path}{field}"
        if isinstance(want, dict):
            compare(struct, ctype, value, want, f"{path}{field}.")
        elif want is None:
            assert value == 0, f"{where} is required (left 0 for the caller) but _params_init writes {value}"
        elif ctype is ctypes.c_float:
            assert np.float32(value) == np.float32(want), f"{where} = {value}, the header documents {want}"
        elif ctype is ctypes.c_double:
            assert value == float(want), f"{where} = {value}, the header documents {want}"
        else:
            assert value == int(want), f"{where} = {value}, the header documents {want}"


def test_the_header_documents_every_params_field_and_the_binding_knows_every_struct():
    text = header_text()
    structs = header_structs(text)
    assert set(structs) == {struct_name(kind) for kind in _params.INIT}, \
        "each dirrm_*_params struct of the header needs its ctypes twin in dirrm._params.INIT"
    for kind in _params.INIT:
        fields = [("lambda" if f == "lam" else f) for f, *_ in kind._fields_]
        assert fields == [f for f, *_ in structs[struct_name(kind)]], f"{kind.__name__} differs from the header"
        documented(struct_name(kind), structs, constants(text))


@pytest.mark.parametrize("kind", list(_params.INIT), ids=lambda kind: _params.INIT[kind])
def test_params_init_writes_the_documented_defaults(kind):
    text = header_text()
    structs = header_structs(text)
    expected = documented(struct_name(kind), structs, constants(text))
    actual = kind()
    ctypes.memset(ctypes.byref(actual), 0x5A, ctypes.sizeof(kind))   # no field may be left as it was
    getattr(_lib.lib, _params.INIT[kind])(ctypes.byref(actual))
    compare(struct_name(kind), kind, actual, expected)


def test_a_wrong_default_in_the_header_is_caught():
    text = header_text()
    wrong = text.replace("float ema_weight;        /* alpha in [0, 1]                            default 0.9 */",
                         "float ema_weight;        /* alpha in [0, 1]                            default 0.8 */")
    assert wrong != text, "the ema_weight line of dirrm_prioritizer_params moved; update this test"
    structs = header_structs(wrong)
    expected = documented("dirrm_prioritizer_params", structs, constants(wrong))
    actual = _params.defaults(_lib.PrioritizerParams)
    with pytest.raises(AssertionError, match="ema_weight"):
        compare("dirrm_prioritizer_params", _lib.PrioritizerParams, actual, expected)


# ---------------------------------------------------------------------------------------------
# The Python keywords
# ---------------------------------------------------------------------------------------------

PACKAGE = os.path.dirname(os.path.abspath(dirrm.__file__))
STRUCTS = {kind.__name__ for kind in _params.INIT}
# Optional modules: the keywords are derived from every module's source; their signatures are
# checked where the module imports.
MODULES = ["dirrm", "dirrm.club", "dirrm._dir_loss", "dirrm.loss", "dirrm.model", "dirrm.dataset", "dirrm.prompt_free",
           "dirrm.audit", "dirrm.torch", "dirrm._trl_reward", "dirrm._trl_prompt_free", "dirrm._trl_audit"]


def _names(node):
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _callee(call):
    f = call.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None


class _Function:
    def __init__(self, module, qualname, node):
        self.module, self.qualname, self.node = module, qualname, node
        args = node.args
        self.positional = [a.arg for a in args.posonlyargs + args.args]
        self.params = (set(self.positional) | {a.arg for a in args.kwonlyargs}) - {"self", "cls"}


def package_functions():
    """{qualname: _Function} of every function and method in the package's modules; a class's
    __init__ is also reachable by the class's name."""
    functions = {}
    # A subpackage (dirrm.torch) counts as one module: its __init__ re-exports every public name.
    files = [(f, "dirrm" if f == "__init__.py" else f"dirrm.{f[:-3]}") for f in sorted(os.listdir(PACKAGE))
             if f.endswith(".py")]
    for folder in sorted(os.listdir(PACKAGE)):
        if os.path.isfile(os.path.join(PACKAGE, folder, "__init__.py")):
            files += [(os.path.join(folder, f), f"dirrm.{folder}")
                      for f in sorted(os.listdir(os.path.join(PACKAGE, folder))) if f.endswith(".py")]
    for file, module in files:
        with open(os.path.join(PACKAGE, file)) as source:
            tree = ast.parse(source.read())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                functions[node.name] = _Function(module, node.name, node)
            elif isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef):
                        qualname = f"{node.name}.{item.name}"
                        functions[qualname] = _Function(module, qualname, item)
                        if item.name == "__init__":
                            functions[node.name] = functions[qualname]
    return functions


def struct_keywords():
    """The parameters whose value fills a params-struct field or which stand for a field's
    default, derived from the package's source by these rules:

    1. an argument of _params.filled(Struct, field=...), _params.overridden(struct, field=...)
       or _update(struct, ...), or a value assigned to an attribute of a struct made by
       _params.filled, _params.overridden or _params.defaults;
    2. a parameter replaced, when None, by a value read from _params.defaults(...);
    3. a parameter passed on to a parameter of a package function that a rule found (to a
       fixpoint).

    Returns ({(qualname, parameter)} of all three rules, the same of rules 1 and 2 only, and
    {qualname: _Function}); a class's __init__ is named by the class.
    """
    functions = package_functions()
    found = set()
    for f in functions.values():
        structs = set()   # local names holding a params struct (or a field of one)
        for node in ast.walk(f.node):
            if isinstance(node, ast.Assign) and isinstance(node.value, (ast.Call, ast.Attribute)):
                root = node.value
                while isinstance(root, ast.Attribute):
                    root = root.value
                if isinstance(root, ast.Call) and _callee(root) in ("filled", "overridden", "defaults"):
                    structs |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        for node in ast.walk(f.node):
            hits = set()
            if isinstance(node, ast.Call) and _callee(node) in ("filled", "overridden"):
                hits = set().union(*(_names(k.value) for k in node.keywords)) if node.keywords else set()
            elif isinstance(node, ast.Call) and _callee(node) == "_update":
                hits = set().union(*(_names(a) for a in node.args[1:]))
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    root = target
                    while isinstance(root, ast.Attribute):
                        root = root.value
                    if isinstance(target, ast.Attribute) and isinstance(root, ast.Name) and root.id in structs:
                        hits |= _names(node.value)
            elif (isinstance(node, ast.IfExp) and isinstance(node.test, ast.Compare)
                  and isinstance(node.test.left, ast.Name) and isinstance(node.test.ops[0], ast.Is)
                  and isinstance(node.test.comparators[0], ast.Constant) and node.test.comparators[0].value is None):
                fallback = node.body
                reads = {n.id for n in ast.walk(fallback) if isinstance(n, ast.Name)} & structs
                calls = [c for c in ast.walk(fallback) if isinstance(c, ast.Call) and _callee(c) == "defaults"]
                if reads or calls:
                    hits = {node.test.left.id}
            found |= {(f.qualname, name) for name in hits & f.params}
    direct = set(found)
    while True:
        more = set()
        for f in functions.values():
            for call in (n for n in ast.walk(f.node) if isinstance(n, ast.Call)):
                target = functions.get(_callee(call) or "")
                if target is None:
                    continue
                offset = 1 if target.positional[:1] in (["self"], ["cls"]) else 0
                pairs = [(target.positional[i + offset], a) for i, a in enumerate(call.args)
                         if i + offset < len(target.positional) and not isinstance(a, ast.Starred)]
                pairs += [(k.arg, k.value) for k in call.keywords if k.arg is not None]
                for name, value in pairs:
                    if (target.qualname, name) in found:
                        more |= {(f.qualname, n) for n in _names(value) & f.params}
        if more <= found:
            break
        found |= more

    def named(pairs):
        return {(qualname.removesuffix(".__init__"), name) for qualname, name in pairs}

    return named(found), named(direct), functions


def resolve(module, qualname):
    obj = module
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def test_the_derivation_finds_the_keywords_it_must():
    # A self-check of the rules above (if they broke, the next test would pass vacuously): one
    # keyword per way a keyword reaches a struct.
    found, _, _ = struct_keywords()
    for anchor in [("Club", "q_hidden"),                                  # filled(...)
                   ("RewardModel.fit", "lam"),                            # _update(...)
                   ("PromptFreeBatchSampler", "ema_weight"),              # None -> defaults(...)
                   ("prompt_free_score_fn", "k"),                         # None -> defaults(...)
                   ("CLUBPenalty", "hidden_dim"),                         # passed on to Club
                   ("PromptFreeRewardTrainer", "pf_p")]:                  # passed on
        assert anchor in found, f"{anchor} is no longer derived as a struct keyword"


@pytest.mark.parametrize("module_name", MODULES)
def test_struct_keywords_default_to_none_and_say_so(module_name):
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        pytest.skip(f"{module_name} does not import here ({error})")
    found, direct, functions = struct_keywords()
    checked = 0
    for qualname, name in sorted(found):
        if functions[qualname].module != module_name:
            continue
        obj = resolve(module, qualname)
        parameter = inspect.signature(obj).parameters[name]
        if parameter.default is inspect.Parameter.empty:
            continue   # required: the caller passes it
        assert parameter.default is None, (
            f"{module_name}.{qualname}({name}={parameter.default!r}): a keyword that fills a params-struct "
            f"field defaults to None, the library's default")
        # Passed on unchanged, its None may mean something else first (e.g. a width read from the
        # model); where it meets the struct, the docstring says what None is.
        if (qualname, name) in direct:
            assert PHRASE in " ".join((inspect.getdoc(obj) or "").split()), \
                f"{module_name}.{qualname}'s docstring does not say {PHRASE!r} (for {name})"
        checked += 1
    if module_name in ("dirrm.club", "dirrm._dir_loss", "dirrm.model", "dirrm.dataset", "dirrm.prompt_free",
                       "dirrm.audit", "dirrm.torch", "dirrm._trl_reward", "dirrm._trl_prompt_free"):
        # (dirrm._trl_audit passes **audit_options on to dirrm.audit: no keyword of its own.)
        assert checked, f"no struct keyword of {module_name} was checked"


def test_a_literal_default_on_a_struct_keyword_is_caught(monkeypatch):
    init = dirrm.club.Club.__init__
    names = [p for p in inspect.signature(init).parameters][-len(init.__defaults__):]
    literal = tuple(1024 if name == "q_hidden" else d for name, d in zip(names, init.__defaults__))
    monkeypatch.setattr(init, "__defaults__", literal)
    with pytest.raises(AssertionError, match=r"Club\(q_hidden=1024\)"):
        test_struct_keywords_default_to_none_and_say_so("dirrm.club")


# ---------------------------------------------------------------------------------------------
# The header's ranges
# ---------------------------------------------------------------------------------------------

LIMITS = f"{REPO}/Sources/DirRMCore/Limits.swift"
# Each field whose header comment states a range "in [a, b]", and the Limits constant that
# range copies.
RANGES = {
    ("dirrm_synth_params", "bias_ratio"): "syntheticBiasRatio",
    ("dirrm_synth_params", "num_prompts"): "syntheticPrompts",
    ("dirrm_synth_params", "responses_per_prompt"): "syntheticResponsesPerPrompt",
    ("dirrm_synth_params", "prompt_dim"): "syntheticPromptDim",
    ("dirrm_synth_params", "response_dim"): "syntheticResponseDim",
    ("dirrm_model_params", "prompt_dim"): "maxFeatureDim",
    ("dirrm_model_params", "width"): "modelWidth",
    ("dirrm_model_params", "depth"): "modelDepth",
    ("dirrm_train_params", "batch_size"): "batchSize",
    ("dirrm_train_params", "pf_prompts"): "promptsPerPair",
    ("dirrm_club_params", "q_hidden"): "maxClubDimension",
}


def header_number(token):
    token = token.replace(",", "")
    if m := re.fullmatch(r"(\d+)\^(\d+)", token):
        return int(m[1]) ** int(m[2])
    return float(token) if "." in token else int(token)


def swift_number(token):
    """A Limits constant's literal ("1 << 20", "(1 << 31) - 1", "1_000_000", "0.5")."""
    token = token.replace("_", "").strip()
    assert re.fullmatch(r"[\d.<\-() ]+", token), f"not a numeric literal: {token!r}"
    return eval(token, {"__builtins__": {}})  # digits and operators only, checked above


def limits():
    """{name: (low, high)} of Limits.swift's ranges, and (None, value) of its maxima, for the
    names RANGES uses."""
    with open(LIMITS) as file:
        text = file.read()
    out = {}
    for name, value in re.findall(r"static let (\w+)(?::\s*\w+)?\s*=\s*(.+)", text):
        if name not in RANGES.values():
            continue
        if "..." in value:
            low, high = value.split("...")
            out[name] = (swift_number(low), swift_number(high))
        else:
            out[name] = (None, swift_number(value))
    return out


def test_the_header_ranges_are_the_limits():
    structs, table = header_structs(header_text()), limits()
    for (struct, field), name in RANGES.items():
        comment = " ".join(next(c for f, _, c in structs[struct] if f == field).split())
        found = re.search(r"in \[([\d.^,]+), ([\d.^,]+)\]", comment)
        assert found, f"{struct}.{field}: no 'in [a, b]' in {comment!r}"
        low, high = header_number(found[1]), header_number(found[2])
        want_low, want_high = table[name]
        assert high == want_high and (want_low is None or low == want_low), (
            f"{struct}.{field} says [{found[1]}, {found[2]}]; Limits.{name} is {table[name]}")
