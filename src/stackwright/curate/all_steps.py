"""Every curation step, registered under its name by importing this module (``stackwright.build`` does).

The ``stackwright.curate`` package itself imports nothing, so a command that needs one detector
(``stackwright pii scan``) does not pay for pyarrow, numpy and every other step at start-up.
"""

from stackwright.curate import decontaminate as _decontaminate  # noqa: F401  ("decontaminate")
from stackwright.curate import empty as _empty  # noqa: F401  (registers "drop_empty")
from stackwright.curate import languages as _languages  # noqa: F401  ("languages", "language_filter")
from stackwright.curate import optout as _optout  # noqa: F401  (registers "optout")
from stackwright.curate import quality as _quality  # noqa: F401  ("quality")
from stackwright.curate.licenses import steps as _license_steps  # noqa: F401  ("licenses", "license_filter")
from stackwright.curate.pii import steps as _pii_steps  # noqa: F401  ("pii")
