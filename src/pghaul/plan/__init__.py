"""Plan: two catalogs -> ordered DDL steps, each marked create / exists / conflict. Pure, no I/O."""

from pghaul.plan.build import build_plan, select_tables
from pghaul.plan.steps import CONFLICT, CREATE, EXISTS, POST_DATA, PRE_DATA, Plan, PlanOptions, Step

__all__ = [
    "CONFLICT",
    "CREATE",
    "EXISTS",
    "POST_DATA",
    "PRE_DATA",
    "Plan",
    "PlanOptions",
    "Step",
    "build_plan",
    "select_tables",
]
