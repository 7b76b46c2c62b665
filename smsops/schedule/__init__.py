"""Fire times: when a schedule's trigger (`cron`, `every`, `at`) fires, in one place.

The planner (`smsops.engine.occurrences`) and run mode's wake-ups
(`smsops.clock.triggers`) both ask `fire_times()`; neither computes a fire
time itself, so they cannot disagree.
"""
