"""A config of three schedules for the status view's tests (one held by a secret, one off)."""

from __future__ import annotations

from pathlib import Path

from smsops.config.loader import Config
from smsops.engine.project import load_project

CONFIG = """\
providers:
  sky:
    type: skycore
    base_url: http://127.0.0.1:9/api
    api_key: ${env:SKY_KEY}
    from: "12025550100"
templates:
  shipped: {category: transactional, body: "Order {{ order }} shipped"}
audiences:
  people:
    contacts:
      - {phone: "+15550000001", order: "1"}
schedules:
  alpha:
    template: shipped
    audience: people
    provider: sky
    trigger: {cron: "0 9 * * *", timezone: UTC}
  beta:
    template: shipped
    audience: people
    provider: sky
    trigger: {every: 12h, start: "2027-01-01T00:00:00", timezone: UTC}
  gamma-2:
    template: shipped
    audience: people
    provider: sky
    enabled: false
"""
SCHEDULES = ["alpha", "beta", "gamma-2"]


def status_config(root: Path) -> Config:
    (root / "config").mkdir()
    (root / "config" / "c.yaml").write_text(CONFIG)
    return load_project(root / "config")
