"""`ConfigRepr`: a `__repr__` that shows a step's configuration, as Grain's transforms do.

A DoFn, PTransform or model handler keeps only plain settings in its public attributes (the
style guide's rule), so printing those is printing its configuration:
`ReadInputs(input_format='auto', ..., max_metadata_bytes=65536)`.
"""


def config_repr(obj) -> str:
    """`ClassName(name=value, ...)` over the public attributes of `obj`, in the order they were set."""
    fields = ", ".join(f"{name}={value!r}" for name, value in vars(obj).items() if not name.startswith("_"))
    return f"{type(obj).__name__}({fields})"


class ConfigRepr:
    """Mixin: `repr()` shows the public attributes (`config_repr`). Put it first among the bases."""

    def __repr__(self):
        return config_repr(self)
