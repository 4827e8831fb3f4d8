"""Background work: the outbox worker and APScheduler jobs. Jobs call core services."""
