"""The service directory: HSDS tables, import/export, offline geocoding and search."""
