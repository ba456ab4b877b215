"""`get_config` entries from constructor arguments stored under their own names."""


def _plain(value):
    return [_plain(item) for item in value] if isinstance(value, (tuple, list)) else value


def config_entries(layer, names) -> dict:
    """`{name: layer.<name>}` for each name, tuples as (nested) lists so the config JSON round-trips."""
    return {name: _plain(getattr(layer, name)) for name in names}
