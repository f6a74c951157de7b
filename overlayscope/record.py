"""Records: the frozen, slotted classes the core returns, made as `dataclasses` makes them
but without its start-up cost.

`@record` gives a class what `@dataclass(frozen=True, slots=True)` gives it: an `__init__`
taking the annotated fields in order (defaults and `field(default_factory=...)` included,
`__post_init__` called), `__repr__`, `__eq__` and `__hash__` over the compared fields,
assignment refused, `__slots__`, `__match_args__`, pickling. `@record(frozen=False)` makes a
mutable one (unhashable, as a mutable dataclass with `eq` is); `eq=False` keeps identity;
`slots=False` keeps a `__dict__`. Type checkers read it as a dataclass (`dataclass_transform`).

Why not `dataclasses`: on Python 3.11 `dataclass()` compiles six methods per frozen class,
one `exec` each (~0.45 ms a class), and imports `inspect` (and with it `ast`, `dis`,
`tokenize`): a command touching fifty records paid ~28 ms before doing anything, more than
`docker diff` takes in all. Here `__repr__`, `__eq__`, `__hash__` and the rest are shared
functions over the class's field names; only `__init__` is compiled, for speed of
construction, and only when the class is first instantiated.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any, TypeVar, dataclass_transform, overload

__all__ = ["FrozenRecordError", "field", "fields", "record", "replace"]

T = TypeVar("T")

_MISSING: Any = type("_Missing", (), {"__repr__": lambda self: "MISSING"})()
_FIELDS = "__record_fields__"  # the class's Field objects, in order


class FrozenRecordError(AttributeError):
    """An attempt to assign to, or delete, a field of a frozen record."""


class Field:
    """One field: its name and default, and whether `__init__`, `repr` and `==` use it."""

    __slots__ = ("compare", "default", "default_factory", "init", "name", "repr")

    def __init__(
        self,
        default: Any = _MISSING,
        default_factory: Any = _MISSING,
        init: bool = True,
        repr: bool = True,
        compare: bool = True,
    ) -> None:
        if default is not _MISSING and default_factory is not _MISSING:
            raise ValueError("cannot give both default and default_factory")
        self.name = ""
        self.default = default
        self.default_factory = default_factory
        self.init = init
        self.repr = repr
        self.compare = compare

    def __repr__(self) -> str:
        return f"Field({self.name!r})"


def field(
    *,
    default: Any = _MISSING,
    default_factory: Callable[[], Any] = _MISSING,
    init: bool = True,
    repr: bool = True,
    compare: bool = True,
) -> Any:
    """A field with more than a plain default, as `dataclasses.field`."""
    return Field(default, default_factory, init, repr, compare)


@overload
def record(cls: type[T], /) -> type[T]: ...


@overload
def record(
    *, frozen: bool = True, eq: bool = True, slots: bool = True
) -> Callable[[type[T]], type[T]]: ...


@dataclass_transform(frozen_default=True, field_specifiers=(field, Field))
def record(
    cls: type[T] | None = None, /, *, frozen: bool = True, eq: bool = True, slots: bool = True
) -> Any:
    """Make `cls` a record (see the module's docstring); `@record` or `@record(...)`."""

    def make(cls: type[T]) -> type[T]:
        return _make(cls, frozen=frozen, eq=eq, slots=slots)

    return make if cls is None else make(cls)


def fields(rec: Any) -> tuple[Field, ...]:
    """The fields of a record class or instance, in order."""
    found: tuple[Field, ...] | None = getattr(rec, _FIELDS, None)
    if found is None:
        raise TypeError(f"not a record: {rec!r}")
    return found


def replace(obj: T, /, **changes: Any) -> T:
    """A copy of the record `obj` with `changes` applied, made through its `__init__`."""
    for f in fields(obj):
        if not f.init:
            if f.name in changes:
                raise ValueError(f"field {f.name} is not set by __init__; replace() cannot set it")
        elif f.name not in changes:
            changes[f.name] = getattr(obj, f.name)
    return obj.__class__(**changes)


# --- how a class becomes a record -------------------------------------------------------


def _is_classvar(annotation: Any) -> bool:
    # annotations are strings here (`from __future__ import annotations`) or objects
    text = annotation if isinstance(annotation, str) else repr(annotation)
    return text.startswith(("ClassVar", "typing.ClassVar", "t.ClassVar"))


def _collect(cls: type) -> tuple[Field, ...]:
    found: list[Field] = []
    # the class's own annotations, as dataclasses reads them (`inspect` is what we avoid)
    own: dict[str, Any] = cls.__dict__.get("__annotations__", {})  # noqa: RUF063
    for name, annotation in own.items():
        if _is_classvar(annotation):
            continue
        value = cls.__dict__.get(name, _MISSING)
        f = value if isinstance(value, Field) else Field(default=value)
        f.name = name
        if type(f.default) in (list, dict, set):
            raise ValueError(f"mutable default {type(f.default).__name__} for field {name}")
        found.append(f)
    seen_default = False
    for f in found:
        if not f.init:
            continue
        if f.default is not _MISSING or f.default_factory is not _MISSING:
            seen_default = True
        elif seen_default:
            raise TypeError(f"non-default argument {f.name!r} follows default argument")
    return tuple(found)


def _make(cls: type[T], *, frozen: bool, eq: bool, slots: bool) -> type[T]:
    found = _collect(cls)
    own = cls.__dict__
    added: dict[str, Any] = {
        _FIELDS: found,
        "__match_args__": tuple(f.name for f in found if f.init),
        "__init__": _lazy_init(found, frozen),
    }
    if "__repr__" not in own:
        added["__repr__"] = _repr_of(tuple(f.name for f in found if f.repr))
    if eq:
        key = _key_of(tuple(f.name for f in found if f.compare))
        if "__eq__" not in own:
            added["__eq__"] = _eq_of(key)
        if own.get("__hash__") is None:
            added["__hash__"] = _hash_of(key) if frozen else None
    if frozen:
        added["__setattr__"] = _refuse_set
        added["__delattr__"] = _refuse_delete
    if not slots:
        # the class itself, changed in place as dataclasses does; a plain default stays
        # the class attribute, a field() is replaced by its default or removed
        for f in found:
            if f.default is not _MISSING:
                type.__setattr__(cls, f.name, f.default)
            elif f.name in own:
                type.__delattr__(cls, f.name)
        for name, value in added.items():
            type.__setattr__(cls, name, value)
        return cls
    # slots need a new class: defaults live in __init__, not as class attributes
    names = tuple(f.name for f in found)
    body = {k: v for k, v in own.items() if k not in names and k not in _PER_INSTANCE}
    body.update(added, __slots__=names)
    if frozen:
        body.update(__getstate__=_getstate, __setstate__=_setstate)
    meta: Any = type(cls)
    made: type[T] = meta(cls.__name__, cls.__bases__, body)
    made.__qualname__ = cls.__qualname__
    return made


_PER_INSTANCE = ("__dict__", "__weakref__")  # the old class's descriptors for these


def _key_of(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    if len(names) > 1:
        return attrgetter(*names)
    if names:
        get = attrgetter(names[0])
        return lambda obj: (get(obj),)
    return lambda obj: ()


def _eq_of(key: Callable[[Any], Any]) -> Callable[[Any, Any], Any]:
    def __eq__(self: Any, other: Any) -> Any:
        if other.__class__ is self.__class__:
            return key(self) == key(other)
        return NotImplemented

    return __eq__


def _hash_of(key: Callable[[Any], Any]) -> Callable[[Any], int]:
    def __hash__(self: Any) -> int:
        return hash(key(self))

    return __hash__


def _repr_of(names: tuple[str, ...]) -> Callable[[Any], str]:
    def __repr__(self: Any) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
        return f"{self.__class__.__qualname__}({shown})"

    return __repr__


def _refuse_set(self: Any, name: str, value: Any) -> None:
    raise FrozenRecordError(f"cannot assign to field {name!r} of a frozen record")


def _refuse_delete(self: Any, name: str) -> None:
    raise FrozenRecordError(f"cannot delete field {name!r} of a frozen record")


def _getstate(self: Any) -> list[Any]:
    return [getattr(self, f.name) for f in getattr(self, _FIELDS)]


def _setstate(self: Any, state: list[Any]) -> None:
    for f, value in zip(getattr(self, _FIELDS), state, strict=True):
        object.__setattr__(self, f.name, value)


def _lazy_init(found: tuple[Field, ...], frozen: bool) -> Callable[..., None]:
    """An `__init__` that compiles the class's own on first use, installs it and calls it:
    classes a command never instantiates never pay for one."""

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        owner = next(k for k in type(self).__mro__ if k.__dict__.get(_FIELDS) is found)
        real = _compile_init(owner, found, frozen)
        type.__setattr__(owner, "__init__", real)
        real(self, *args, **kwargs)

    return __init__


def _compile_init(owner: type, found: tuple[Field, ...], frozen: bool) -> Callable[..., None]:
    env: dict[str, Any] = {"_MISSING": _MISSING}
    params: list[str] = []
    lines: list[str] = []
    for i, f in enumerate(found):
        value = f.name
        if f.init:
            if f.default_factory is not _MISSING:
                env[f"_factory{i}"] = f.default_factory
                params.append(f"{f.name}=_MISSING")
                value = f"_factory{i}() if {f.name} is _MISSING else {f.name}"
            elif f.default is not _MISSING:
                env[f"_default{i}"] = f.default
                params.append(f"{f.name}=_default{i}")
            else:
                params.append(f.name)
        elif f.default_factory is not _MISSING:
            env[f"_factory{i}"] = f.default_factory
            value = f"_factory{i}()"
        elif f.default is not _MISSING:
            env[f"_default{i}"] = f.default
            value = f"_default{i}"
        else:
            continue  # set by __post_init__
        if frozen:
            env[f"_set{i}"] = _setter(owner, f.name)
            lines.append(f"    _set{i}(self, {value})")
        else:
            lines.append(f"    self.{f.name} = {value}")
    if hasattr(owner, "__post_init__"):
        lines.append("    self.__post_init__()")
    source = f"def __init__(self, {', '.join(params)}):\n" + ("\n".join(lines) or "    pass")
    exec(compile(source, f"<record {owner.__qualname__}.__init__>", "exec"), env)
    init: Callable[..., None] = env["__init__"]
    init.__qualname__ = f"{owner.__qualname__}.__init__"
    return init


def _setter(owner: type, name: str) -> Callable[[Any, Any], None]:
    # a slot's descriptor sets it directly (past the refusing __setattr__), else object's
    slot = owner.__dict__.get(name)
    if slot is not None and hasattr(slot, "__set__"):
        set_slot: Callable[[Any, Any], None] = slot.__set__
        return set_slot
    return lambda obj, value: object.__setattr__(obj, name, value)
