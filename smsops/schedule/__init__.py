"""Fire times: when a schedule's trigger (`cron`, `every`, `at`) fires, in one place.

The planner (`smsops.schedule.occurrences`) and run mode's wake-ups
(`smsops.schedule.triggers`) both ask `fire_times()`; neither computes a fire
time itself, so they cannot disagree.
"""
