"""Resolving every ``$ref`` and bundling each event schema into one self-contained document.

``referencing`` does the resolution (relative to ``$id`` and, as a fallback, relative to the
file). Every referenced subschema becomes one named entry of a global ``$defs`` table and
every ``$ref`` is rewritten to ``#/$defs/<Name>``; that gives both

* the self-contained, draft 2020-12 schema of each event (its body plus the ``$defs`` it
  reaches), which the runtime validates raw payloads against, and
* one document for datamodel-code-generator in which shared definitions are their own models.

Older drafts are normalised to 2020-12 on the way, with each draft's keyword semantics:
draft-04 boolean ``exclusiveMinimum``/``exclusiveMaximum`` and ``id``; draft-04/06/07
``$ref`` siblings (ignored) and ``dependencies``; draft-04 to 2019-09 ``items`` arrays.

Relative refs resolve against the referring file (or its ``$id``); when that finds no file,
against the ref root (the schemas directory unless configured), as third-party collections
often write ``"common/user.json"`` meaning the collection's root. When both places hold a
file the ref is ambiguous and refused; when neither does, the error names both paths.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urldefrag, urljoin, urlsplit

import referencing
import referencing.exceptions
import referencing.jsonschema
from jsonschema_specifications import REGISTRY as _SPECIFICATIONS  # type: ignore[import-untyped]

from qxgen._loader import (
    DRAFT_04,
    DRAFT_2019_09,
    DRAFT_2020_12,
    SchemaFile,
    dialect_of,
    load_schema_file,
    parse_document,
)
from qxgen._naming import pascal_case
from qxgen.errors import RefError, SchemaError

# Keywords whose value is a schema, a list of schemas or a map of schemas (draft 2020-12 and 07).
SCHEMA_KEYWORDS = (
    "additionalProperties",
    "additionalItems",
    "items",
    "contains",
    "propertyNames",
    "not",
    "if",
    "then",
    "else",
    "unevaluatedItems",
    "unevaluatedProperties",
    "contentSchema",
)
SCHEMA_LIST_KEYWORDS = ("allOf", "anyOf", "oneOf", "prefixItems")
SCHEMA_MAP_KEYWORDS = (
    "properties",
    "patternProperties",
    "dependentSchemas",
    "$defs",
    "definitions",
)
# Dropped from bundled output: identifiers and containers made meaningless by the rewrite.
_DROP = frozenset(
    {
        "$id",
        "$schema",
        "$defs",
        "definitions",
        "$anchor",
        "$dynamicAnchor",
        "$recursiveAnchor",
        "$vocabulary",
        "$comment",
    }
)
# Drafts where $ref siblings are ignored / where an `items` array means a tuple.
_SIBLINGS_IGNORED = ("draft-07", "draft-06", "draft-04")
# Keywords applying to the instance itself (not to a property or item of it): a $ref cycle
# through these alone never consumes structure, so validation would recurse forever.
_IN_PLACE = ("allOf", "anyOf", "oneOf", "not", "if", "then", "else", "dependentSchemas")
_METASCHEMAS: dict[str, Any] = {
    uri.rstrip("#"): _SPECIFICATIONS.contents(uri) for uri in _SPECIFICATIONS
}


class _Refused(Exception):
    """Raised inside retrieval; turned into a RefError with the referring location."""


@dataclass(slots=True)
class _Target:
    name: str
    file: SchemaFile
    pointer: str
    body: Any = None
    deps: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Bundle:
    """The rewritten definitions (name -> schema) and which names each one references."""

    definitions: dict[str, Any]
    deps: dict[str, list[str]]

    def closure(self, name: str) -> list[str]:
        seen: list[str] = []
        stack = [name]
        while stack:
            current = stack.pop()
            for dep in self.deps.get(current, []):
                if dep not in seen and dep != name:
                    seen.append(dep)
                    stack.append(dep)
        return sorted(seen)

    def standalone(self, name: str) -> dict[str, Any]:
        """The self-contained draft 2020-12 schema of ``name`` (refs only into its ``$defs``)."""
        body = self.definitions[name]
        schema: dict[str, Any] = {"$schema": DRAFT_2020_12, **body}
        defs = {dep: self.definitions[dep] for dep in self.closure(name)}
        if name in self.deps.get(name, []) or any(name in self.deps[d] for d in defs):
            defs[name] = body
            defs = dict(sorted(defs.items()))
        if defs:
            schema["$defs"] = defs
        return schema


class Bundler:
    def __init__(
        self,
        files: list[SchemaFile],
        root: Path,
        display_root: str,
        *,
        allow_remote: bool = False,
        allow_outside: bool = False,
        ref_root: Path | None = None,
        previous_names: dict[str, str] | None = None,
    ) -> None:
        self._root = root.resolve()
        self._ref_root = (ref_root or root).resolve()
        self._display_root = display_root
        self._allow_remote = allow_remote
        self._allow_outside = allow_outside
        self._by_uri: dict[str, SchemaFile] = {f.uri: f for f in files}
        self._index: dict[int, tuple[SchemaFile, str]] = {}
        self._id_roots: list[tuple[str, Path]] = []
        self.external: list[SchemaFile] = []
        registry: referencing.Registry[Any] = referencing.Registry(retrieve=self._retrieve)  # type: ignore[call-arg]
        for file in files:
            self._index_file(file)
            registry = registry.with_resource(file.uri, self._resource(file.contents))
        self._registry = registry.crawl()
        self._targets: dict[int, _Target] = {}
        self._resolvers: dict[int, referencing._core.Resolver[Any]] = {}
        self._names: set[str] = set()
        # Names of the last run ("shared/money.json#" -> "Money"), each kept for its schema and
        # off-limits for any other: adding a file never renames an existing class.
        self._previous = {k: v for k, v in (previous_names or {}).items() if v.isidentifier()}
        self._reserved = set(self._previous.values())
        self.names: dict[str, str] = {}

    # -- public -------------------------------------------------------------------------------

    def reserve(self, name: str) -> None:
        self._names.add(name)

    def add_root(self, file: SchemaFile, name: str) -> None:
        """Register ``file``'s root schema under ``name`` (an event class)."""
        self._names.add(name)
        self._targets[id(file.contents)] = _Target(name, file, "")

    def bundle(self) -> Bundle:
        pending = [t for t in self._targets.values() if t.body is None]
        while pending:
            for target in pending:
                self._build(target)
            pending = [t for t in self._targets.values() if t.body is None]
        ordered = sorted(self._targets.values(), key=lambda t: t.name)
        self._refuse_structureless_cycles(ordered)
        return Bundle(
            definitions={t.name: t.body for t in ordered},
            deps={t.name: sorted(set(t.deps)) for t in ordered},
        )

    def _refuse_structureless_cycles(self, targets: list[_Target]) -> None:
        """``a.json`` -> ``b.json`` -> ``a.json`` with no property or item in between accepts
        no finite value: the runtime would dead-letter every payload. Refuse it here."""
        by_name = {t.name: t for t in targets}
        edges = {t.name: sorted(_in_place_refs(t.body)) for t in targets}
        state: dict[str, int] = {}  # 1 = on the current path, 2 = done

        def visit(name: str, path: list[str]) -> None:
            state[name] = 1
            for dep in edges.get(name, []):
                if state.get(dep) == 1:
                    cycle = [*path[path.index(dep) :], dep] if dep in path else [name, dep]
                    where = " -> ".join(
                        f"{by_name[n].file.display}#{by_name[n].pointer}" for n in cycle
                    )
                    first = by_name[cycle[0]]
                    raise RefError(
                        first.file.display,
                        first.pointer,
                        f"$ref cycle without structure: {where}; no value can ever match it "
                        "(each schema only refers to the next). Put the recursion under a "
                        "property or array item, or remove one $ref",
                    )
                if state.get(dep) is None:
                    visit(dep, [*path, dep])
            state[name] = 2

        for target in targets:
            if state.get(target.name) is None:
                visit(target.name, [target.name])

    # -- resolution ---------------------------------------------------------------------------

    def _resource(self, contents: Any, dialect: str | None = None) -> referencing.Resource[Any]:
        """``contents`` as a resource of its own ``$schema``, else of ``dialect`` (the draft of
        the enclosing file: a nested draft-04 schema names itself with ``id``)."""
        own = isinstance(contents, dict) and isinstance(contents.get("$schema"), str)
        spec = referencing.jsonschema.specification_with(
            dialect_of(contents) if own or dialect is None else dialect,
            default=referencing.jsonschema.DRAFT202012,
        )
        return spec.create_resource(contents)

    def _index_file(self, file: SchemaFile) -> None:
        for obj, ptr in _subschemas(file.contents, ""):
            self._index.setdefault(id(obj), (file, ptr))
        contents = file.contents
        if isinstance(contents, dict) and isinstance(contents.get("$id"), str):
            absolute = urldefrag(urljoin(file.uri, contents["$id"])).url
            # An $id mirroring the file's place (…/orders/placed.json for orders/placed.json)
            # tells where the schema set's base is, so refs against $ids of files that do not
            # declare one still find them.
            if absolute.endswith("/" + file.rel) and file.path.is_relative_to(self._root):
                self._id_roots.append((absolute[: -len(file.rel)], self._root))

    def _retrieve(self, uri: str) -> referencing.Resource[Any]:
        for prefix, base in self._id_roots:
            if uri.startswith(prefix):
                candidate = (base / unquote(uri[len(prefix) :])).resolve()
                local = self._by_uri.get(candidate.as_uri())
                if local is not None:
                    return self._resource(local.contents)
        scheme = urlsplit(uri).scheme
        if scheme == "file":
            path = Path(urllib.request.url2pathname(urlsplit(uri).path)).resolve()
            if not path.is_relative_to(self._root) and not self._allow_outside:
                raise _Refused(
                    f"{path} is outside the schemas directory {self._display_root}; move it in "
                    "or pass --allow-external-refs"
                )
            if not path.is_file():
                shown = (
                    f"{self._display_root}/{path.relative_to(self._root).as_posix()}"
                    if path.is_relative_to(self._root)
                    else str(path)
                )
                raise _Refused(f"no such schema file: {shown}")
            return self._resource(self._load_extra(path).contents)
        known = _METASCHEMAS.get(uri.rstrip("#"))
        if known is not None:  # the official meta-schemas ship with jsonschema-specifications
            file = SchemaFile(Path(uri), PurePosixPath(uri).name, uri, uri, known, "")
            self._index_file(file)
            return self._resource(known)
        if scheme in ("http", "https"):
            if not self._allow_remote:
                raise _Refused(
                    "remote refs are refused: copy the schema into the schemas directory "
                    "(or pass --allow-remote-refs)"
                )
            with urllib.request.urlopen(uri, timeout=10) as response:
                raw = response.read()
            contents = parse_document(raw, PurePosixPath(urlsplit(uri).path).suffix, uri)
            file = SchemaFile(Path(uri), uri, uri, uri, contents, "")
            self._index_file(file)
            self.external.append(file)
            return self._resource(contents)
        raise _Refused(f"cannot retrieve {uri!r}: not a file of the schemas directory")

    def _load_extra(self, path: Path) -> SchemaFile:
        existing = self._by_uri.get(path.as_uri())
        if existing is not None:
            return existing
        file = load_schema_file(path, self._root, self._display_root)
        self._by_uri[file.uri] = file
        self._index_file(file)
        self.external.append(file)
        return file

    def _lookup(
        self, ref: str, resolver: referencing._core.Resolver[Any], file: SchemaFile, at: str
    ) -> referencing._core.Resolved[Any]:
        rooted = self._root_relative(ref)
        try:
            found = resolver.lookup(ref)
        except (_Refused, referencing.exceptions.Unresolvable) as first:
            # Relative to the file itself (the $id may not mirror its place), then to the root.
            if urlsplit(ref).scheme == "":
                try:
                    return self._registry.resolver(base_uri=file.uri).lookup(ref)
                except (referencing.exceptions.Unresolvable, _Refused):
                    pass
                if rooted is not None:
                    try:
                        return self._registry.resolver(base_uri=rooted.uri).lookup(
                            "#" + urldefrag(ref).fragment
                        )
                    except (referencing.exceptions.Unresolvable, _Refused):
                        pass
            refused = first if isinstance(first, _Refused) else _refusal(first)
            if refused is not None:
                tried = (
                    f" (nor relative to the ref root: no {self._display(self._root_path(ref))})"
                    if self._root_path(ref) is not None and "no such schema file" in str(refused)
                    else ""
                )
                raise RefError(file.display, at, f"$ref {ref!r}: {refused}{tried}") from None
            raise RefError(file.display, at, f"$ref {ref!r} cannot be resolved") from None
        if rooted is not None:
            landed = self._index.get(id(found.contents))
            if landed is not None and landed[0].path.resolve() != rooted.path.resolve():
                raise RefError(
                    file.display,
                    at,
                    f"$ref {ref!r} is ambiguous: it names {landed[0].display} relative to the "
                    f"referring file and {rooted.display} relative to the ref root; write the "
                    "ref so that only one matches (e.g. '../' segments or an absolute $id)",
                )
        return found

    def _root_path(self, ref: str) -> Path | None:
        """Where a relative ref points when read against the ref root."""
        path = urldefrag(ref).url
        if not path or urlsplit(ref).scheme or path.startswith("/"):
            return None
        return (self._ref_root / unquote(path)).resolve()

    def _root_relative(self, ref: str) -> SchemaFile | None:
        candidate = self._root_path(ref)
        if candidate is None or not candidate.is_file():
            return None
        if not candidate.is_relative_to(self._root) and not self._allow_outside:
            return None
        return self._load_extra(candidate)

    def _display(self, path: Path | None) -> str:
        if path is None:
            return ""
        if path.is_relative_to(self._root):
            return f"{self._display_root}/{path.relative_to(self._root).as_posix()}"
        return str(path)

    def _target_for(
        self, resolved: referencing._core.Resolved[Any], ref: str, file: SchemaFile, at: str
    ) -> _Target:
        contents = resolved.contents
        found = self._targets.get(id(contents))
        if found is not None:
            return found
        origin = self._index.get(id(contents))
        if origin is None:
            raise RefError(file.display, at, f"$ref {ref!r} points inside a non-schema value")
        target_file, ptr = origin
        target = _Target(self._name_for(target_file, ptr), target_file, ptr)
        self._targets[id(contents)] = target
        resolver = resolved.resolver
        if not urldefrag(ref).fragment and ptr == "" and isinstance(contents, dict):
            # A file looked up whole keeps the file's URI as base: enter its root $id (a
            # nested resource looked up whole was found by its $id, which is the base already).
            resolver = resolver.in_subresource(self._resource(contents))
        self._resolvers[id(contents)] = resolver
        return target

    def _name_for(self, file: SchemaFile, ptr: str) -> str:
        key = f"{file.rel}#{ptr}"
        kept = self._previous.get(key)
        if kept is not None and kept not in self._names:
            self._names.add(kept)
            self.names[key] = kept
            return kept
        name = self._new_name(file, ptr)
        self.names[key] = name
        return name

    def _new_name(self, file: SchemaFile, ptr: str) -> str:
        stem = PurePosixPath(file.rel).stem
        parts = [p.replace("~1", "/").replace("~0", "~") for p in ptr.split("/")[1:]]
        if not parts:
            candidates = [pascal_case(stem)]
        elif len(parts) == 2 and parts[0] in ("$defs", "definitions"):
            candidates = [pascal_case(parts[1])]
        else:
            candidates = [pascal_case(" ".join([stem, *parts]))]
        folders = " ".join(PurePosixPath(file.rel).parent.parts)
        candidates.append(pascal_case(f"{folders} {stem} {' '.join(parts)}"))
        for candidate in candidates:
            if candidate not in self._names and candidate not in self._reserved:
                self._names.add(candidate)
                return candidate
        base, n = candidates[-1], 2
        while f"{base}{n}" in self._names or f"{base}{n}" in self._reserved:
            n += 1
        self._names.add(f"{base}{n}")
        return f"{base}{n}"

    # -- rewriting ----------------------------------------------------------------------------

    def _build(self, target: _Target) -> None:
        contents = _get_pointer(target.file.contents, target.pointer)
        resolver = self._resolvers.pop(id(contents), None)
        if resolver is None:  # an event root: start at the file, then enter its $id
            resolver = self._registry.resolver(base_uri=target.file.uri)
            if isinstance(contents, dict) and ("$id" in contents or "id" in contents):
                resolver = resolver.in_subresource(
                    self._resource(contents, dialect_of(target.file.contents))
                )
        dialect = dialect_of(target.file.contents)
        deps: list[str] = []
        target.body = {}  # marks it as in progress (a recursive ref finds the name already)
        target.body = self._rewrite(
            contents, resolver, target.file, target.pointer, dialect, deps, entered=True
        )
        target.deps = deps

    def _rewrite(
        self,
        node: Any,
        resolver: referencing._core.Resolver[Any],
        file: SchemaFile,
        at: str,
        dialect: str,
        deps: list[str],
        *,
        entered: bool = False,
    ) -> Any:
        if not isinstance(node, dict):
            return node
        draft4 = dialect == DRAFT_04
        legacy = any(d in dialect for d in _SIBLINGS_IGNORED)
        id_key = "id" if draft4 else "$id"
        if isinstance(node.get(id_key), str) and not entered:
            resolver = resolver.in_subresource(self._resource(node, dialect))
        out: dict[str, Any] = {}
        ref_key = next((k for k in ("$ref", "$dynamicRef", "$recursiveRef") if k in node), None)
        if ref_key is not None:
            ref = node[ref_key]
            if not isinstance(ref, str):
                raise SchemaError(file.display, f"{at}/{ref_key}", "$ref must be a string")
            target = self._ref_to(ref, resolver, file, f"{at}/{ref_key}", deps)
            bare = legacy or all(k in _DROP or k == ref_key for k in node)
            if isinstance(target, bool):
                if bare:
                    return target  # a $ref to `true`/`false` is that boolean schema
                out["allOf"] = [target]
            else:
                out["$ref"] = target
            if legacy:
                return out  # draft-07 ignores the siblings of $ref
        if draft4:
            node = _draft4_bounds(node)
        if (legacy or dialect == DRAFT_2019_09) and isinstance(node.get("items"), list):
            node = dict(node)
            node["prefixItems"] = node.pop("items")
            if "additionalItems" in node:
                node["items"] = node.pop("additionalItems")
        elif "additionalItems" in node and not isinstance(node.get("prefixItems"), list):
            node = {k: v for k, v in node.items() if k != "additionalItems"}
        for key, value in node.items():
            if key in _DROP or key in ("$ref", "$dynamicRef", "$recursiveRef"):
                continue
            if draft4 and key == "id" and isinstance(value, str):
                continue
            here = f"{at}/{_escape(key)}"
            if key in SCHEMA_KEYWORDS:
                out[key] = self._rewrite(value, resolver, file, here, dialect, deps)
            elif key == "allOf" and isinstance(value, list) and "allOf" in out:
                out[key] = [
                    *out[key],
                    *(
                        self._rewrite(v, resolver, file, f"{here}/{i}", dialect, deps)
                        for i, v in enumerate(value)
                    ),
                ]
            elif key in SCHEMA_LIST_KEYWORDS and isinstance(value, list):
                out[key] = [
                    self._rewrite(v, resolver, file, f"{here}/{i}", dialect, deps)
                    for i, v in enumerate(value)
                ]
            elif key in SCHEMA_MAP_KEYWORDS and isinstance(value, dict):
                out[key] = {
                    k: self._rewrite(v, resolver, file, f"{here}/{_escape(k)}", dialect, deps)
                    for k, v in value.items()
                }
            elif key == "dependencies" and isinstance(value, dict):
                required = {k: v for k, v in value.items() if isinstance(v, list)}
                schemas = {
                    k: self._rewrite(v, resolver, file, f"{here}/{_escape(k)}", dialect, deps)
                    for k, v in value.items()
                    if not isinstance(v, list)
                }
                if required:
                    out["dependentRequired"] = required
                if schemas:
                    out["dependentSchemas"] = schemas
            elif key == "discriminator" and isinstance(value, dict):
                out[key] = self._rewrite_discriminator(value, resolver, file, here, deps)
            else:
                out[key] = value
        return out

    def _rewrite_discriminator(
        self,
        value: dict[str, Any],
        resolver: referencing._core.Resolver[Any],
        file: SchemaFile,
        at: str,
        deps: list[str],
    ) -> dict[str, Any]:
        mapping = value.get("mapping")
        if not isinstance(mapping, dict):
            return value
        rewritten = {
            k: self._ref_to(v, resolver, file, f"{at}/mapping/{_escape(k)}", deps)
            if isinstance(v, str)
            else v
            for k, v in mapping.items()
        }
        return {**value, "mapping": rewritten}

    def _ref_to(
        self,
        ref: str,
        resolver: referencing._core.Resolver[Any],
        file: SchemaFile,
        at: str,
        deps: list[str],
    ) -> str | bool:
        resolved = self._lookup(ref, resolver, file, at)
        if isinstance(resolved.contents, bool):
            return resolved.contents
        target = self._target_for(resolved, ref, file, at)
        deps.append(target.name)
        return f"#/$defs/{target.name}"


def _refusal(error: BaseException) -> _Refused | None:
    """The _Refused that referencing wrapped (Unresolvable <- Unretrievable <- _Refused)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, _Refused):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _draft4_bounds(node: dict[str, Any]) -> dict[str, Any]:
    """draft-04 ``"exclusiveMinimum": true`` modifies ``minimum``; 2020-12 says it with a
    number. Same for the maximum."""
    if not any(isinstance(node.get(k), bool) for k in ("exclusiveMinimum", "exclusiveMaximum")):
        return node
    node = dict(node)
    for exclusive, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        flag = node.get(exclusive)
        if not isinstance(flag, bool):
            continue
        del node[exclusive]
        if flag and bound in node:
            node[exclusive] = node.pop(bound)
    return node


def _in_place_refs(node: Any) -> set[str]:
    """Definitions ``node`` refers to for the same instance (not for a property or item)."""
    found: set[str] = set()
    if not isinstance(node, dict):
        return found
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        found.add(ref[len("#/$defs/") :])
    for key in _IN_PLACE:
        value = node.get(key)
        if isinstance(value, list):
            for item in value:
                found |= _in_place_refs(item)
        elif key == "dependentSchemas" and isinstance(value, dict):
            for item in value.values():
                found |= _in_place_refs(item)
        else:
            found |= _in_place_refs(value)
    return found


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _get_pointer(document: Any, ptr: str) -> Any:
    node = document
    for part in ptr.split("/")[1:]:
        key = part.replace("~1", "/").replace("~0", "~")
        node = node[int(key)] if isinstance(node, list) else node[key]
    return node


def _subschemas(node: Any, at: str) -> Iterator[tuple[Any, str]]:
    """Every schema object inside ``node`` with its pointer (not values of enum, const, ...)."""
    if not isinstance(node, dict):
        return
    yield node, at
    for key, value in node.items():
        here = f"{at}/{_escape(key)}"
        if key in SCHEMA_KEYWORDS:
            if isinstance(value, list):
                for i, v in enumerate(value):
                    yield from _subschemas(v, f"{here}/{i}")
            else:
                yield from _subschemas(value, here)
        elif key in SCHEMA_LIST_KEYWORDS and isinstance(value, list):
            for i, v in enumerate(value):
                yield from _subschemas(v, f"{here}/{i}")
        elif key in (*SCHEMA_MAP_KEYWORDS, "dependencies") and isinstance(value, dict):
            for k, v in value.items():
                yield from _subschemas(v, f"{here}/{_escape(k)}")


def dumps(schema: Any) -> str:
    """Stable JSON text of a bundled schema (author key order, 2-space indent, final newline)."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
