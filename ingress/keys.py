"""Typed application and request keys shared by the ingress modules."""

from __future__ import annotations

import asyncpg
from aiohttp import web
from redis.asyncio import Redis

from ingress.config_cache import WebhookConfigCache
from ingress.delivery_queue import DeliveryQueue
from ingress.rate_limit import RateLimiter
from ingress.task_pages import TaskPageCache
from shared.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
DB_POOL = web.AppKey("db_pool", asyncpg.Pool)
QUEUE_REDIS = web.AppKey("queue_redis", Redis)
WEBHOOK_CONFIGS = web.AppKey("webhook_configs", WebhookConfigCache)
DELIVERY_QUEUE = web.AppKey("delivery_queue", DeliveryQueue)
WEBHOOK_LIMITER = web.AppKey("webhook_limiter", RateLimiter)
AGENT_AUTH_LIMITER = web.AppKey("agent_auth_limiter", RateLimiter)
TASK_PAGES = web.AppKey("task_pages", TaskPageCache)

# Per-request values, set by the request context (ingress.request_context).
REQUEST_ID = web.RequestKey("request_id", str)
CLIENT_IP = web.RequestKey("client_ip", str)
