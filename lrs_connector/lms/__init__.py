"""Pushing readiness to LMSs: the delivery targets (Moodle, LTI Advantage AGS, Canvas, a signed
webhook), their configuration, and the dispatcher that drains the outbox into them.

Readiness writes what changed into the outbox in its own transaction; `delivery` fans each
change out to every configured target, coalesces to the newest per learner, role and target,
and delivers with retries. Each target module knows one LMS and nothing about storage.
"""
