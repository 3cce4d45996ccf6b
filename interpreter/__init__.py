"""campaignlang: Marketo-style smart campaigns as code.

>>> from campaignlang import parse
>>> result = parse('program "P" { list "L" }', "demo.campaign")
>>> result.ok, result.module.items[0].name
(True, 'P')
"""

from __future__ import annotations

from .errors import CampaignError, Diagnostic
from .parse import ParseResult, parse

__version__ = "0.1.0"

__all__ = ["CampaignError", "Diagnostic", "ParseResult", "parse", "__version__"]
