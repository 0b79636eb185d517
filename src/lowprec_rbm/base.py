"""The estimator contract shared by every public model (scikit-learn's, without importing scikit-learn).

* Hyper-parameters are keyword-only ``__init__`` arguments stored unchanged under their own names; nothing is
  validated or derived in ``__init__`` (so ``clone`` and ``set_params`` round-trip).
* ``get_params``/``set_params`` are derived from the ``__init__`` signature, never hand-listed.
* Validation happens in ``fit`` (``_validate_params``), against a declarative ``_parameter_constraints`` table,
  with one message style: ``"<Estimator>: <name> must be <what>, got <value>"``.
* Fitted state lives in attributes with a trailing underscore; a method that needs it raises
  :class:`NotFittedError` (a ``ValueError`` and an ``AttributeError``, as scikit-learn's is) before ``fit``.
* ``random_state`` is None, an int, or a ``numpy.random.Generator``; :func:`check_random_state` turns it into
  a Generator, the one source of every random draw.
"""
from __future__ import annotations

import inspect
import sys
import numbers
from typing import Any

import numpy as np

__all__ = ["BaseEstimator", "NotFittedError", "DataConversionWarning", "check_is_fitted", "check_random_state",
           "Interval", "Options"]


class NotFittedError(ValueError, AttributeError):
    """A method that needs a fitted model was called before ``fit``.

    >>> from lowprec_rbm.base import NotFittedError
    >>> issubclass(NotFittedError, ValueError) and issubclass(NotFittedError, AttributeError)
    True
    """


class DataConversionWarning(UserWarning):
    """Input data was converted (e.g. a column-vector ``y`` raveled); named as scikit-learn's, whose checks
    recognise a warning by this name.

    >>> issubclass(DataConversionWarning, UserWarning)
    True
    """


def check_random_state(random_state: Any, name: str = "random_state") -> np.random.Generator:
    """A ``numpy.random.Generator`` from None (fresh OS entropy), an int >= 0 (seeded) or a Generator (itself).

    >>> from lowprec_rbm.base import check_random_state
    >>> float(check_random_state(0).random()) == float(check_random_state(0).random())
    True
    """
    if random_state is None:
        return np.random.default_rng()
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        if int(random_state) < 0:
            raise ValueError(f"{name} must be None, an int >= 0 or a numpy.random.Generator, got {random_state!r}")
        return np.random.default_rng(int(random_state))
    raise TypeError(f"{name} must be None, an int >= 0 or a numpy.random.Generator, "
                    f"got {type(random_state).__name__} {random_state!r}")


class Interval:
    """A numeric constraint: ``Interval(int, 1, None)`` is an int >= 1; ``closed`` says which ends are included.

    >>> Interval(float, 0, 1, closed="left").describe()
    'a float in [0, 1)'
    """

    def __init__(self, kind: type, low: float | None, high: float | None, *, closed: str = "both"):
        if kind not in (int, float):
            raise TypeError(f"kind must be int or float, got {kind!r}")
        if closed not in ("both", "left", "right", "neither"):
            raise ValueError(f"closed must be 'both', 'left', 'right' or 'neither', got {closed!r}")
        self.kind, self.low, self.high, self.closed = kind, low, high, closed

    def accepts(self, value: Any) -> bool:
        if isinstance(value, bool):
            return False
        if self.kind is int and not isinstance(value, numbers.Integral):
            return False
        if self.kind is float and not isinstance(value, numbers.Real):
            return False
        if not np.isfinite(float(value)):
            return False
        lo_ok = self.low is None or (value >= self.low if self.closed in ("both", "left") else value > self.low)
        hi_ok = self.high is None or (value <= self.high if self.closed in ("both", "right") else value < self.high)
        return bool(lo_ok and hi_ok)

    def describe(self) -> str:
        noun = "an int" if self.kind is int else "a float"
        if self.low is None and self.high is None:
            return f"{noun}"
        if self.high is None:
            return f"{noun} {'>=' if self.closed in ('both', 'left') else '>'} {self.low}"
        if self.low is None:
            return f"{noun} {'<=' if self.closed in ('both', 'right') else '<'} {self.high}"
        left = "[" if self.closed in ("both", "left") else "("
        right = "]" if self.closed in ("both", "right") else ")"
        return f"{noun} in {left}{self.low}, {self.high}{right}"


class Options:
    """A constraint to a fixed set of values (strings, bools).

    >>> Options("blr", "huang").describe()
    "one of 'blr', 'huang'"
    """

    def __init__(self, *values: Any):
        self.values = values

    def accepts(self, value: Any) -> bool:
        return any(value is v or (type(value) is type(v) and value == v) for v in self.values)

    def describe(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)


# A constraint is an Interval, Options, a type (isinstance), None (the value None), "random_state",
# "boolean", or a callable returning True for acceptable values (its ``__doc__`` first line describes it).
def _accepts(constraint: Any, value: Any) -> bool:
    if constraint is None:
        return value is None
    if constraint == "boolean":
        return isinstance(value, (bool, np.bool_))
    if constraint == "random_state":
        return value is None or isinstance(value, np.random.Generator) or (
            isinstance(value, numbers.Integral) and not isinstance(value, bool) and int(value) >= 0)
    if isinstance(constraint, (Interval, Options)):
        return constraint.accepts(value)
    if isinstance(constraint, type):
        return isinstance(value, constraint)
    if callable(constraint):
        return bool(constraint(value))
    raise TypeError(f"unknown parameter constraint {constraint!r}")


def _describe(constraint: Any) -> str:
    if constraint is None:
        return "None"
    if constraint == "boolean":
        return "True or False"
    if constraint == "random_state":
        return "None, an int >= 0 or a numpy.random.Generator"
    if isinstance(constraint, (Interval, Options)):
        return constraint.describe()
    if isinstance(constraint, type):
        return f"an instance of {constraint.__name__}"
    doc = (getattr(constraint, "__doc__", None) or "").strip().splitlines()
    return doc[0] if doc else repr(constraint)


class BaseEstimator:
    """Base of every public estimator: parameters from the ``__init__`` signature, validation, repr.

    Subclasses list each hyper-parameter's accepted values in ``_parameter_constraints`` (name -> list of
    constraints, any of which may accept) and call ``self._validate_params()`` at the start of ``fit``.

    >>> class Toy(BaseEstimator):
    ...     _parameter_constraints = {"n": [Interval(int, 1, None)]}
    ...     def __init__(self, *, n=3):
    ...         self.n = n
    >>> Toy(n=5)
    Toy(n=5)
    >>> Toy().set_params(n=7).get_params()
    {'n': 7}
    >>> Toy(n=0)._validate_params()
    Traceback (most recent call last):
    ...
    ValueError: Toy: n must be an int >= 1, got 0
    """

    _parameter_constraints: dict[str, list[Any]] = {}

    @classmethod
    def _get_param_names(cls) -> list[str]:
        init = cls.__init__
        if init is object.__init__:
            return []
        params = inspect.signature(init).parameters.values()
        names = []
        for p in params:
            if p.name == "self":
                continue
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise TypeError(f"{cls.__name__}.__init__ must not take *args or **kwargs (found {p})")
            names.append(p.name)
        return sorted(names)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The hyper-parameters, by name, as given to ``__init__`` (``deep`` is accepted for scikit-learn)."""
        out = {}
        for name in self._get_param_names():
            value = getattr(self, name)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                out.update((f"{name}__{k}", v) for k, v in value.get_params().items())
            out[name] = value
        return out

    def set_params(self, **params: Any) -> "BaseEstimator":
        """Set hyper-parameters by name; an unknown name is a ``ValueError`` listing the valid ones."""
        valid = self._get_param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"{type(self).__name__}: invalid parameter {name!r}; "
                                 f"valid parameters are {', '.join(valid)}")
            setattr(self, name, value)
        return self

    def _validate_params(self) -> None:
        """Check every hyper-parameter against ``_parameter_constraints`` (raised in ``fit``, not ``__init__``)."""
        for name, constraints in self._parameter_constraints.items():
            value = getattr(self, name)
            if any(_accepts(c, value) for c in constraints):
                continue
            wanted = " or ".join(_describe(c) for c in constraints)
            wrong_type = not any(_type_matches(c, value) for c in constraints)
            exc = TypeError if wrong_type else ValueError
            raise exc(f"{type(self).__name__}: {name} must be {wanted}, got {value!r}")

    def __repr__(self) -> str:
        defaults = {p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()
                    if p.name != "self"}
        changed = []
        for name in self._get_param_names():
            value = getattr(self, name, None)
            default = defaults.get(name, inspect.Parameter.empty)
            same = value is default
            if not same:
                try:
                    same = bool(type(value) is type(default) and value == default)
                except (TypeError, ValueError):
                    same = False
            if not same:
                changed.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(changed)})"

    def __sklearn_tags__(self):  # only called by scikit-learn, so importing it here is safe
        from sklearn.utils import Tags, TargetTags, InputTags
        return Tags(estimator_type=getattr(self, "_estimator_type", None), target_tags=TargetTags(required=False),
                    input_tags=InputTags())


def _type_matches(constraint: Any, value: Any) -> bool:
    """Whether ``value`` is of a type ``constraint`` is about (to choose TypeError over ValueError)."""
    if constraint is None:
        return value is None
    if constraint == "boolean":
        return isinstance(value, (bool, np.bool_))
    if constraint == "random_state":
        return value is None or isinstance(value, (numbers.Integral, np.random.Generator))
    if isinstance(constraint, Interval):
        return isinstance(value, numbers.Real) and not isinstance(value, bool) and (
            constraint.kind is float or isinstance(value, numbers.Integral))
    if isinstance(constraint, Options):
        return any(type(value) is type(v) for v in constraint.values)
    if isinstance(constraint, type):
        return isinstance(value, constraint)
    return True


def check_is_fitted(estimator: Any, attributes: str | list[str]) -> None:
    """Raise :class:`NotFittedError` unless ``estimator`` has every named fitted attribute."""
    names = [attributes] if isinstance(attributes, str) else list(attributes)
    if not all(hasattr(estimator, a) for a in names):
        raise _not_fitted_class()(f"this {type(estimator).__name__} is not fitted yet: call fit before using it")


_SKLEARN_NOT_FITTED: list[type] = []


def _not_fitted_class() -> type:
    """:class:`NotFittedError`, or, once scikit-learn has been imported by the caller, a subclass of both it and
    scikit-learn's ``NotFittedError``, so ``except`` clauses written for either catch it. The core never imports
    scikit-learn: it only looks in ``sys.modules`` for a module that is already loaded."""
    sk = sys.modules.get("sklearn.exceptions")
    if sk is None or not isinstance(getattr(sk, "NotFittedError", None), type):
        return NotFittedError
    if not _SKLEARN_NOT_FITTED:
        _SKLEARN_NOT_FITTED.append(type("NotFittedError", (NotFittedError, sk.NotFittedError),
                                        {"__module__": __name__, "__doc__": NotFittedError.__doc__}))
    return _SKLEARN_NOT_FITTED[0]
