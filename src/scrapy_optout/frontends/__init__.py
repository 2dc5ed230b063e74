"""Front ends over the policy layer: ``optout check``, the survey, the ledger report."""
