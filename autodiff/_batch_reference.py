"""Pickling and batched replay for the reference engine's tapes (issue 13): to be written."""

_NO_PICKLE = ("a Tape cannot be pickled or copied yet: it holds compiled instructions "
              "tied to this process; call record(f, *example_args) again in the other "
              "process (or wherever you need another tape)")


def reduce(tape):
    raise TypeError(_NO_PICKLE)


def copy(tape):
    raise TypeError(_NO_PICKLE)


def vmap(tape, in_axes):
    raise NotImplementedError("Tape.vmap is not written yet")
