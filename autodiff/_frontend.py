"""What is written once for both engines, on top of an engine's primitives."""


def build(engine):
    """The frontend's public functions bound to ``engine`` (a dict of the engine's names)."""
    return {}
