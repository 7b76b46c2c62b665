"""`--schedule NAME` on plan and apply (Terraform's -target): which schedules are considered."""

from __future__ import annotations

from dataclasses import dataclass

from smsops.config.loader import Config
from smsops.core.errors import UsageError


@dataclass(frozen=True)
class Targets:
    considered: list[str]  # in the config's order
    not_considered: int  # schedules left out (counted in every view)
    targeted: bool  # whether --schedule was given

    def due_now(self, config: Config) -> list[str] | None:
        """What the due-now plan plans: None (every enabled one) unless targeted."""
        if not self.targeted:
            return None
        return [name for name in self.considered if config.schedules[name].enabled]


def check_schedules(names: list[str], config: Config, flag: str) -> None:
    """Every name given to `flag` (--schedule, --approve) is a schedule of `config`."""
    unknown = [name for name in names if name not in config.schedules]
    if unknown:
        listed = ", ".join(repr(name) for name in config.schedules) or "none"
        missing = ", ".join(repr(name) for name in unknown)
        raise UsageError(f"no schedule named {missing} ({flag}); the config has: {listed}")


def targets(config: Config, names: list[str]) -> Targets:
    """The schedules `names` picks (every one when empty); an unknown name is an error."""
    check_schedules(names, config, "--schedule")
    known = list(config.schedules)
    if not names:
        return Targets(known, 0, targeted=False)
    considered = [name for name in known if name in set(names)]
    return Targets(considered, len(known) - len(considered), targeted=True)
