"""The local side: scanning a mirror's folder, watching it, the ignore rules, the local trash
and the folders kept because they hold ignored items."""
