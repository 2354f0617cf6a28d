"""The loan-officer web pages, served under ``/officer/`` by the same FastAPI app."""

from __future__ import annotations

from fastapi import APIRouter

__all__ = ["router"]

router = APIRouter(prefix="/officer", include_in_schema=False)
