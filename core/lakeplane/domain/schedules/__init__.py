"""Cron schedules that submit runs."""
