"""course_utils.brain: chapter 5, the brain vs deep learning.

Dettmers' brain-compute estimate and its sensitivity (:mod:`.estimate`); the singularity
timeline, other published estimates and the TOP500 history (:mod:`.timeline`).
"""

from .estimate import (
    DEFAULTS,
    PARAMETERS,
    POST_ESTIMATE_FLOPS,
    POST_TIMELINE,
    POST_URL,
    POST_YEAR,
    TIANHE2_HPCG_FLOPS,
    BrainEstimate,
    Parameter,
    SensitivityBar,
    dettmers_estimate,
    matches_post,
    reconstructions,
    sensitivity,
    steps_at_frame_rate,
)
from .timeline import (
    OTHER_ESTIMATES,
    OtherEstimate,
    Top500Entry,
    doublings_needed,
    fit_doubling_time,
    knowledge_fraction,
    kurzweil_cps,
    landauer_bits_per_s,
    load_top500,
    mips_to_flops,
    price_per_kwh,
    year_reached,
)

__all__ = [
    "POST_URL",
    "POST_ESTIMATE_FLOPS",
    "TIANHE2_HPCG_FLOPS",
    "POST_YEAR",
    "POST_TIMELINE",
    "Parameter",
    "PARAMETERS",
    "DEFAULTS",
    "BrainEstimate",
    "dettmers_estimate",
    "reconstructions",
    "matches_post",
    "steps_at_frame_rate",
    "SensitivityBar",
    "sensitivity",
    "doublings_needed",
    "year_reached",
    "kurzweil_cps",
    "mips_to_flops",
    "landauer_bits_per_s",
    "knowledge_fraction",
    "price_per_kwh",
    "OtherEstimate",
    "OTHER_ESTIMATES",
    "Top500Entry",
    "load_top500",
    "fit_doubling_time",
]
