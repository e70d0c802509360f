"""User-facing errors: one clear message naming the thing and the fix."""


class XWError(Exception):
    """Base class for errors a user can cause and fix."""


class ParameterError(XWError):
    """A parameters file is malformed: names the file, the key and what is allowed."""


class UnknownTaskError(XWError):
    """A task name is not registered."""


class DuplicateTaskError(XWError):
    """A task name is registered twice: names the task and how to replace it on purpose."""


class DataNotFoundError(XWError):
    """A task's data is missing: names the task, where xw looked and how to get the data."""


class TrainingError(XWError):
    """Training diverged (NaN/inf loss) or otherwise cannot continue."""


class TrainingPreempted(XWError):
    """A stop signal (Slurm's pre-timeout USR2, a preemption's TERM) stopped training after a checkpoint."""
