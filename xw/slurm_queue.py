"""Asking Slurm about jobs (``squeue``, ``scontrol``, ``sacct``): which are still queued or running, and
how one that left the queue ended.

Kept apart from the Slurm executor (xw.executors.slurm) and free of heavy imports, because the ledger
(xw.ledger) asks it too: a running marker written inside a Slurm job on another node counts as alive
while its job is queued or running. Job states come from these commands, not from submitit's watcher,
which needs ``sacct`` and so a Slurm accounting database.
"""

from __future__ import annotations

import getpass
import subprocess
import time

# squeue states of a job that has ended (squeue may still list it for a moment)
ENDED = {"COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE",
         "OUT_OF_MEMORY", "SPECIAL_EXIT", "REVOKED"}

_live_cache: tuple[float, dict[str, str] | None] = (0.0, None)


def live_jobs(max_age_s: float = 0.0) -> dict[str, str] | None:
    """Job id -> state of this user's jobs still queued or running; None if squeue cannot be asked."""
    global _live_cache
    if max_age_s and time.monotonic() - _live_cache[0] < max_age_s:
        return _live_cache[1]
    try:
        out = subprocess.run(["squeue", "--noheader", "--user", getpass.getuser(), "--format", "%i|%T"],
                             capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        jobs = None
    else:
        jobs = None if out.returncode else {}
        for line in out.stdout.splitlines() if jobs is not None else []:
            job_id, _, state = line.strip().partition("|")
            if job_id and state not in ENDED:
                jobs[job_id] = state
    _live_cache = (time.monotonic(), jobs)
    return jobs


def job_is_live(job_id: str) -> bool | None:
    """Whether a job is still queued or running (None when Slurm cannot be asked)."""
    jobs = live_jobs(max_age_s=5.0)
    return None if jobs is None else job_id in jobs


def ended_state(job_id: str) -> str:
    """How a job that left the queue ended, e.g. 'TIMEOUT' or 'CANCELLED (DependencyNeverSatisfied)'."""
    try:
        out = subprocess.run(["scontrol", "--oneliner", "show", "job", job_id], capture_output=True, text=True,
                             timeout=60)
        fields = dict(f.split("=", 1) for f in out.stdout.split() if "=" in f)
        if fields.get("JobState"):
            reason = fields.get("Reason", "None")
            return fields["JobState"] + (f" ({reason})" if reason not in ("None", "") else "")
    except (OSError, subprocess.SubprocessError):
        pass
    try:  # older jobs: only the accounting database knows
        out = subprocess.run(["sacct", "--noheader", "--allocations", "--parsable2", "--format", "State",
                              "--jobs", job_id], capture_output=True, text=True, timeout=60)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError):
        pass
    return "unknown (no longer known to slurmctld)"
