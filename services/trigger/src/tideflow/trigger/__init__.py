"""The trigger service: webhooks, cron schedules and event-bus subscriptions start runs.

Every start is keyed (delivery id, cron tick, topic/partition/offset or a key template),
recorded with its StartRun outbox row in one transaction, and published at once: the same
key always answers with the same run, on any replica, after any crash.
"""
