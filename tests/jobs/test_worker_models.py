"""A process configures every model before its threads run jobs (a mapper half-configured in one thread poisons the process)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

CHECK = """
import sys
from sqlalchemy.orm import Mapper
from shopify_app.services import configure_all_models
assert 'shopify_app.cases.models' not in sys.modules  # nothing imported it yet: the race was possible
configure_all_models()
from shopify_app.all_models import Base
mappers = list(Base.registry.mappers)
assert 'shopify_app.cases.models' in sys.modules
assert mappers and all(m.configured for m in mappers), [m for m in mappers if not m.configured]
print(len(mappers))
"""


def test_configure_all_models_imports_and_configures_every_mapper_in_a_fresh_process():
    done = subprocess.run([sys.executable, "-c", CHECK], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout.strip()) > 50
