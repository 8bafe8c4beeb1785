"""Warm referrals to case managers: consent, referrals, staff accounts, the live relay."""
