"""Schemathesis hooks for genbase (loaded through the `hooks` key of the config xtask writes).

`no_other_users_data`: the run's user must never receive anything of another user. xtask makes
the other user's objects (a generation, a conversation, a memory, a project, a flow, a
workspace, an upload) and passes their ids, the user's id and email in GENBASE_FOREIGN_MARKERS
(a JSON list). A response fails when one of them is the value of an `id`, a `*_id` or an
`email` key anywhere in its JSON (or in an event of a stream). Keys, not text: Schemathesis
reuses values it has seen in earlier answers, including the other user's, as input, so free
text may echo them harmlessly; an object the caller receives names itself by its keys.
Schemathesis's own `object_level_authorization` replays reads as the other user; this check
also catches a leak through a list, a search or a join, whatever the request was.
"""

import ast
import json
import os
import threading

import schemathesis

# CPython 3.11's AST constructor keeps its recursion depth in state the threads share, so two
# threads parsing at once can fail with "AST constructor recursion depth mismatch"
# (python/cpython#106905). Hypothesis parses the source of filter lambdas to describe its
# strategies, in each of Schemathesis's worker threads: parse one at a time.
_PARSE_LOCK = threading.Lock()
_parse = ast.parse


def _parse_alone(*args, **kwargs):
    with _PARSE_LOCK:
        return _parse(*args, **kwargs)


ast.parse = _parse_alone

FOREIGN = frozenset(m for m in json.loads(os.environ.get("GENBASE_FOREIGN_MARKERS", "[]")) if m)


def _documents(response):
    text = response.content.decode("utf-8", "replace") if response.content else ""
    if "text/event-stream" in response.headers.get("content-type", [""])[0]:
        chunks = [line[5:].strip() for line in text.splitlines() if line.startswith("data:")]
    else:
        chunks = [text]
    for chunk in chunks:
        try:
            yield json.loads(chunk)
        except ValueError:
            continue


def _named(value, path="$"):
    """Every (path, value) of an `id`, `*_id`, `*Id` (the AI SDK's stream parts) or `email` key."""
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}"
            if isinstance(item, str) and (key in ("id", "email") or key.endswith(("_id", "Id"))):
                yield here, item
            yield from _named(item, here)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _named(item, f"{path}[{index}]")


@schemathesis.check
def no_other_users_data(ctx, response, case):
    for document in _documents(response):
        for path, value in _named(document):
            if value in FOREIGN:
                raise AssertionError(f"the response carries another user's data: {path} = {value!r}")
