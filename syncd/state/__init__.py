"""What syncd remembers: the SQLite index, the status a pass leaves behind, the daily budget."""
