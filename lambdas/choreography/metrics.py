"""Custom metrics the handlers emit that the stack's dashboard and alarms read, named once for both."""

# A service acted before the milestone it follows: per milestone pair (dimensions milestone, follows),
# and all pairs together (the service's dimension only).
OUT_OF_ORDER = "OutOfOrder"
