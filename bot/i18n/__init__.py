"""Internationalisation: gettext catalogs, language detection and translation helpers."""
