"""Memory that stays true: facts drawn from turns, reconciled into slots that supersede each
other by event time, profiles read from them (issue 12)."""
