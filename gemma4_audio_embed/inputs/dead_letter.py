"""Dead letters in Beam's form, for the steps that find a bad entry without raising (readers inside a good file).

`with_exception_handling` turns an exception into `(element, (exception type, repr, traceback
lines))` on its dead-letter output; `dead_letter` builds the same for an error found, not
raised, so one sink (`outputs.dead_letters`) formats both.
"""

import traceback

from apache_beam.pvalue import TaggedOutput

DEAD_LETTER_TAG = "dead_letter"


def dead_letter(element, error: Exception) -> TaggedOutput:
    """Returns `element` as a dead letter in Beam's form, for an error found without raising."""
    lines = traceback.format_exception_only(type(error), error)
    return TaggedOutput(DEAD_LETTER_TAG, (element, (type(error), repr(error), lines)))
