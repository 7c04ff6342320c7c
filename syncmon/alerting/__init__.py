"""Alerting: rules (pure), engine (states), routing (groups, silences, inhibition), escalation, incidents."""
