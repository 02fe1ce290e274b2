"""Snakemake's local scheduler without the job rate limiter, whose timers outlive the run (a hook for `onstart`)."""

from __future__ import annotations


def drop_local_rate_limit(workflow) -> bool:
    """Turn off the job rate limiter of a local run; return whether it was on.

    Snakemake 9's limiter arms a non-daemon `threading.Timer` of one timespan at every scheduling pass and never
    cancels one: each finished job starts a chain of wake-ups that lasts the whole run (the default 100/1s costs a
    sixth of a core after 100 jobs), and the process waits for the last timer before it exits (a 5-minute timespan
    holds every run open for 5 minutes after its last job). A local run submits nothing to rate-limit; a cluster run
    keeps its profile's limit.
    """
    scheduler = getattr(workflow, "scheduler", None)
    if not workflow.local_exec or getattr(scheduler, "job_rate_limiter", None) is None:
        return False
    scheduler.job_rate_limiter = None
    return True
