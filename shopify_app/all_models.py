"""Import every model module so Base.metadata is complete (Alembic, tests)."""
from __future__ import annotations

from . import models  # noqa: F401
from .deliveries import models as delivery_models  # noqa: F401
from .fulfillment import models as fulfillment_models  # noqa: F401
from .inventory import models as inventory_models  # noqa: F401
from .jobs import models as job_models  # noqa: F401
from .notify import models as notify_models  # noqa: F401
from .orders import models as order_models  # noqa: F401
from .reconcile import models as reconcile_models  # noqa: F401
from .returns import models as return_models  # noqa: F401
from .returns import outcome_models as return_outcome_models  # noqa: F401  (issue 16 part O)
from .suppliers import models as supplier_models  # noqa: F401
from .suppliers import email_po_log as email_po_log_models  # noqa: F401
from .suppliers import edi_models  # noqa: F401
from .suppliers import as2_models  # noqa: F401
from .suppliers import email_inbox_models  # noqa: F401
from .suppliers import file_channel_models  # noqa: F401
from .suppliers import po_batch_models  # noqa: F401  (issue 15: batched POs)
from .suppliers import amendment_models  # noqa: F401
from .suppliers import audit as supplier_audit_models  # noqa: F401  (issue 14 part E)
from .mappings import models as mapping_models  # noqa: F401  (issue 18 part M)
from .notify import customer_models as customer_notice_models  # noqa: F401  (issue 17 part N)
from .kpis import models as kpi_models  # noqa: F401  (issue 19 part J)

Base = models.Base
from .cases import models as case_models  # noqa: F401  (issue 17 part P)
