"""overlayscope.record against `dataclasses`, the behaviour it stands in for: each class is
written once and made both ways, and the two must agree on construction, repr, equality,
hashing, freezing, pickling, copying and `replace`."""

from __future__ import annotations

import ast
import copy
import dataclasses
import pickle
from pathlib import Path
from typing import Any, ClassVar

import pytest

from overlayscope import record as rec
from overlayscope.record import FrozenRecordError, field, fields, record, replace

PACKAGE = Path(rec.__file__).parent


def _layer(make_field: Any = field) -> type:
    """A class as the readers write them; `dataclasses.field` for the dataclass, ours for a
    record (each reads only its own)."""

    def factory() -> list[str]:
        return ["made"]

    class Layer:
        id: str
        size: int
        parent: str | None = None
        problems: tuple[str, ...] = ()
        notes: list[str] = make_field(default_factory=factory)
        KIND: ClassVar[str] = "layer"

        def label(self) -> str:
            return f"{self.id}:{self.size}"

    return Layer


def _both(*, frozen: bool = True, slots: bool = True, eq: bool = True) -> tuple[type, type]:
    """Layer made a record and made a dataclass, with the same options."""
    ours = record(frozen=frozen, slots=slots, eq=eq)(_layer())
    theirs = dataclasses.dataclass(frozen=frozen, slots=slots, eq=eq)(_layer(dataclasses.field))
    return ours, theirs


CALLS: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
    (("a", 1), {}),
    (("a",), {"size": 2}),
    ((), {"id": "b", "size": 3, "parent": "a"}),
    (("c", 4, "b", ("x",)), {}),
    (("c", 4), {"notes": ["given"]}),
]


@pytest.mark.parametrize("frozen", [True, False])
@pytest.mark.parametrize("slots", [True, False])
@pytest.mark.parametrize(("args", "kwargs"), CALLS)
def test_construction_repr_and_equality_as_dataclasses(
    frozen: bool, slots: bool, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    ours, theirs = _both(frozen=frozen, slots=slots)
    a, b = ours(*args, **kwargs), theirs(*args, **kwargs)
    assert repr(a) == repr(b)
    assert [getattr(a, f.name) for f in fields(a)] == [
        getattr(b, f.name) for f in dataclasses.fields(b)
    ]
    assert a == ours(*args, **kwargs) and a != ours("other", 0) and a != b
    assert a.label() == b.label() and ours.KIND == "layer"
    assert ours.__match_args__ == theirs.__match_args__
    assert hasattr(a, "__dict__") == hasattr(b, "__dict__") == (not slots)
    if slots:
        assert ours.__slots__ == theirs.__slots__  # type: ignore[attr-defined]
    if frozen:
        a_hashable = ours(*args, **{**kwargs, "notes": None})
        b_hashable = theirs(*args, **{**kwargs, "notes": None})
        assert hash(a_hashable) == hash(b_hashable)
    else:
        assert ours.__hash__ is None and theirs.__hash__ is None


def test_each_instance_gets_its_own_default_from_the_factory() -> None:
    Layer = record(frozen=False)(_layer())
    a, b = Layer("a", 1), Layer("b", 2)
    a.notes.append("more")
    assert b.notes == ["made"] and a.notes == ["made", "more"]


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((), {}, "missing 2 required positional arguments: 'id' and 'size'"),
        (("a", 1), {"colour": "red"}, "unexpected keyword argument 'colour'"),
        (("a", 1, None, (), [], "extra"), {}, "takes from 3 to 6 positional arguments"),
        (("a", 1), {"id": "b"}, "got multiple values for argument 'id'"),
    ],
)
def test_bad_calls_fail_as_dataclasses_fail(
    args: tuple[Any, ...], kwargs: dict[str, Any], message: str
) -> None:
    ours, theirs = _both()
    for cls in (ours, theirs):
        with pytest.raises(TypeError, match=message):
            cls(*args, **kwargs)


@pytest.mark.parametrize("slots", [True, False])
def test_a_frozen_record_refuses_assignment_and_deletion(slots: bool) -> None:
    layer = record(slots=slots)(_layer())("a", 1)
    with pytest.raises(FrozenRecordError, match="'size'"):
        layer.size = 2
    with pytest.raises(AttributeError):  # FrozenRecordError is one, as FrozenInstanceError
        del layer.size
    assert layer.size == 1


def test_a_mutable_record_takes_assignment() -> None:
    layer = record(frozen=False)(_layer())("a", 1)
    layer.size = 2
    assert layer.size == 2


def test_eq_false_keeps_identity() -> None:
    ours, _ = _both(eq=False)
    a, b = ours("a", 1), ours("a", 1)
    assert a != b and a == a and hash(a) != hash(b)


@record
class Pickled:
    """At module level, so pickle can find it."""

    path: str
    size: int = 0
    children: tuple[str, ...] = ()


@record(frozen=False)
class PickledMutable:
    path: str
    seen: list[str] = field(default_factory=list)


@pytest.mark.parametrize(
    "obj", [Pickled("/a", 3, ("b",)), PickledMutable("/b", ["x"])], ids=["frozen", "mutable"]
)
def test_pickle_and_copy_round_trip(obj: Any) -> None:
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        again = pickle.loads(pickle.dumps(obj, protocol))
        assert again == obj and type(again) is type(obj)
    assert copy.copy(obj) == obj and copy.deepcopy(obj) == obj


def test_replace_makes_a_changed_copy_through_init() -> None:
    a = Pickled("/a", 3)
    b = replace(a, size=4)
    assert (a.size, b.size, b.path) == (3, 4, "/a") and type(b) is Pickled
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        replace(a, colour="red")


@record
class Derived:
    """A field set by `__post_init__`, outside `__init__`, as union/lookup.py's."""

    items: tuple[int, ...]
    total: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "total", sum(self.items))


def test_post_init_and_a_field_outside_init() -> None:
    d = Derived((1, 2, 3))
    assert d.total == 6 and repr(d) == "Derived(items=(1, 2, 3))"
    assert d == Derived((1, 2, 3)) and Derived.__match_args__ == ("items",)
    with pytest.raises(ValueError, match="not set by __init__"):
        replace(d, total=1)
    assert replace(d, items=(4,)).total == 4


def test_match_statement_reads_match_args() -> None:
    match Pickled("/m", 7):
        case Pickled(path, size):
            assert (path, size) == ("/m", 7)
        case _:
            pytest.fail("no match")


def test_a_subclass_instantiated_first_compiles_its_base_init_once() -> None:
    Base = record(frozen=False)(_layer())

    class Sub(Base):  # type: ignore[misc, valid-type]
        pass

    s = Sub("a", 1)
    assert (s.id, s.size) == ("a", 1)
    init = Base.__dict__["__init__"]
    assert Base("b", 2).size == 2 and Base.__dict__["__init__"] is init  # compiled once


def test_field_order_and_mutable_defaults_refused_at_definition() -> None:
    class Backwards:
        a: int = 0
        b: int

    with pytest.raises(TypeError, match="non-default argument 'b' follows default argument"):
        record(Backwards)

    class Shared:
        items: list[int] = []  # noqa: RUF012 - the mistake under test

    with pytest.raises(ValueError, match="mutable default list"):
        record(Shared)
    with pytest.raises(ValueError, match="both default and default_factory"):
        field(default=1, default_factory=int)


def test_fields_of_something_else_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="not a record"):
        fields(object())


def test_the_package_makes_its_records_with_record_not_dataclasses() -> None:
    """`dataclasses` costs every command ~28 ms at start-up on Python 3.11 (module docstring)."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if "dataclasses" in names:
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert not offenders, offenders
