"""The registry's on-demand models are the registry's models, type by type."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from smsops.providers.registry import PROVIDER_MODULES, models_on_demand, provider_models


def test_the_same_mapping_as_provider_models() -> None:
    lazy, eager = models_on_demand(), provider_models()
    assert list(lazy) == list(eager) == list(PROVIDER_MODULES)
    assert len(lazy) == len(eager)
    assert dict(lazy.items()) == eager
    assert "twilio" in lazy
    assert "nope" not in lazy
    assert lazy.get("nope") is None
    with pytest.raises(KeyError):
        lazy["nope"]


def test_a_lookup_imports_that_provider_alone() -> None:
    probe = (
        "import json, sys\n"
        "from smsops.providers.registry import models_on_demand\n"
        "models = models_on_demand()\n"
        "assert 'opentact' in models and list(models)\n"
        "assert models['opentact'].__name__\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('smsops.providers.'))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = {name.rsplit(".", 1)[1] for name in json.loads(done.stdout)}
    assert loaded & set(PROVIDER_MODULES) == {"opentact"}
