"""Read a fitted PCA -> SVC out of a skops file with numpy alone (no scikit-learn, no skops).

A serving process only needs the estimator's arrays. Importing scikit-learn (and scipy with it)
and building the estimator through skops cost a worker ~80 MB of memory it never uses again, so
``load_model`` reads the file's ``schema.json`` and ``.npy`` members itself. Nothing is
constructed from the file but JSON values and numpy arrays (``allow_pickle=False``); objects are
kept as plain attribute holders, and only the trusted estimator types are accepted. Any schema
this reader does not know raises ``Unsupported``: the caller then loads with skops as before.
"""

from __future__ import annotations

import json
import os
import zipfile
from typing import Any

import numpy as np

#: skops schema protocols this reader understands
PROTOCOLS = {2}
#: attributes that scikit-learn exposes as properties over a stored private one
_ALIASES = {"sklearn.svm._classes.SVC": {"n_support_": "_n_support"}}


class Unsupported(Exception):
    """The file uses something this reader does not handle (load it with skops instead)."""


class Fitted:
    """A stored estimator: its class name and state attributes, nothing callable."""

    def __init__(self, type_name: str, state: dict[str, Any]):
        self.type_name = type_name
        for public, private in _ALIASES.get(type_name, {}).items():
            if private in state and public not in state:
                state[public] = state[private]
        self.__dict__.update(state)


def read_estimator(path: str | os.PathLike[str], trusted: list[str]) -> Any:
    """The file's top-level object as ``Fitted`` holders (steps of a pipeline included).

    Raises ``Unsupported`` for an unknown protocol, node kind or a type not in ``trusted``;
    zip, JSON and numpy errors propagate (a damaged file)."""
    with zipfile.ZipFile(path) as z:
        schema = json.loads(z.read("schema.json"))
        if schema.get("protocol") not in PROTOCOLS:
            raise Unsupported(f"skops protocol {schema.get('protocol')}")
        return _node(schema, z, frozenset(trusted))


def _node(node: dict[str, Any], z: zipfile.ZipFile, trusted: frozenset[str]) -> Any:
    loader = node.get("__loader__")
    if loader == "JsonNode":
        return json.loads(node["content"])
    if loader == "DictNode":
        return {str(k): _node(v, z, trusted) for k, v in node["content"].items()}
    if loader in ("ListNode", "TupleNode"):
        items = [_node(v, z, trusted) for v in node["content"]]
        return tuple(items) if loader == "TupleNode" else items
    if loader == "NdArrayNode" and node.get("type") == "numpy":
        with z.open(node["file"]) as f:
            return np.load(f, allow_pickle=False)
    if loader == "ObjectNode":
        name = f"{node['__module__']}.{node['__class__']}"
        if name not in trusted:
            raise Unsupported(f"type {name}")
        state = _node(node["content"], z, trusted)
        if not isinstance(state, dict):
            raise Unsupported(f"state of {name}")
        return Fitted(name, state)
    raise Unsupported(f"skops node {loader}")
